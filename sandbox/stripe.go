package sandbox

func (s *Server) stripeRoutes() {}

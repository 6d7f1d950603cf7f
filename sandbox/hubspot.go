package sandbox

func (s *Server) hubspotRoutes() {}

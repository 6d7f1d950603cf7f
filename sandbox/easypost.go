package sandbox

func (s *Server) easypostRoutes() {}

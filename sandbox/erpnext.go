package sandbox

func (s *Server) erpnextRoutes() {}

package sandbox

func (s *Server) slackRoutes() {}

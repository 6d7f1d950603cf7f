package sandbox

// routes registers every simulated partner: one line each.
func (s *Server) routes() {
	s.hubspotRoutes()  // CRM: HubSpot CRM v3, under /hubspot
	s.erpnextRoutes()  // ERP: ERPNext REST, under /erpnext
	s.stripeRoutes()   // payment: Stripe, under /stripe
	s.easypostRoutes() // logistics: EasyPost, under /easypost
	s.slackRoutes()    // notification: Slack incoming webhooks, under /slack
}

package session

// AgentSummary is the short description of a User-Agent that session
// lists show ("Firefox on Linux"), for whatever else must describe or
// recognise a device the same way (the new-device notice).
func AgentSummary(ua string) string { return summarizeAgent(ua) }

package main

// startOperator starts the operator interfaces (API, metrics) of a running
// member. The operator issue (#8) fills it in.
func (m *member) startOperator() error { return nil }

// stopOperator stops what startOperator started.
func (m *member) stopOperator() {}

// Package wireshark holds ccp.lua, the Wireshark and tshark dissector of
// CCP (docs/ccp.md), and the test that runs tshark with it on frames
// sealed by syncpath/ccp. It has no Go code of its own: nothing imports it.
package wireshark

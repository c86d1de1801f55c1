// Package client is an Engine.IO client: it speaks protocols 4 and 3 over
// HTTP long-polling and WebSocket, and upgrades a polling connection to
// WebSocket as the JavaScript client does (protocol-notes §3).
//
// Start with DialEngine, which performs the handshake and returns an
// EngineConn; messages arrive through EngineOptions.OnMessage and leave
// through EngineConn.SendText and SendBinary. Each connection runs a single
// reader goroutine (plus a short-lived one during an upgrade) and one
// runtime timer for the heartbeat, so a process can hold thousands of them.
//
// The wire encoding is package engineio's; errors for refused HTTP requests
// are *engineio.RequestError.
package client

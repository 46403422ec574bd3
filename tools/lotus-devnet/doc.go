// Package devnet is lotus-devnet: a one-node, one-miner Lotus devnet for the exporter's tests,
// built from Lotus's own integration kit (itests/kit) with mock proofs and served over Lotus's
// real JSON-RPC API behind Lotus's own token auth. It is a Go test binary (the kit needs a
// *testing.T): scripts/real-lotus builds it with `go test -c`; run it as
//
//	lotus-devnet -dir DIR [-f3=true] [-block-time 4s] [-log-level warn]
//
// It writes DIR/api and DIR/token as a Lotus repo does (so LOTUS_PATH=DIR finds the node), and
// DIR/devnet.json (the API address, read/write/sign/admin tokens, genesis timestamp, block delay,
// a funded wallet) once the chain is current by its own clock. It runs until SIGTERM/SIGINT or
// until DIR/stop exists. Controls, polled every 100 ms:
//
//	DIR/halt         while it exists no block is mined (the chain halts, the API keeps answering)
//	DIR/restart-api  the API moves to a new port: DIR/api and devnet.json are rewritten, then
//	                 the file is removed
//
// SIGUSR1 halts mining and SIGUSR2 resumes it, for callers that prefer signals.
package devnet

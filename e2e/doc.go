// Package e2e holds nspawnctl's end-to-end scenarios. Each one boots a real
// systemd test host (package e2e/testhost) in a network namespace and drives
// it the way a user would. They run only with NSPAWNCTL_E2E=1, as root:
//
//	make e2e            # or: e2e/run.sh, or NSPAWNCTL_E2E=1 go test ./e2e/... -v
package e2e

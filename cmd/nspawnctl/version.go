package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func init() { registerCommand(newVersionCmd) }

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version recorded by go install is used.
var version = ""

func versionString() string {
	v := version
	if v == "" {
		if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
			v = info.Main.Version
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return fmt.Sprintf("nspawnctl %s %s/%s %s", v, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print nspawnctl's version",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { writeLine(a.stdout, versionString()) },
	}
}

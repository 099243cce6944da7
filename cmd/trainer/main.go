// Command trainer validates a CSV file, trains a candidate model, and
// promotes it when its F1 beats the current version's. It also lists
// versions and rolls back.
//
//	trainer train [-artifacts DIR | -artifacts-url URL] [-balanced] [-eval FILE] [-seed N] DATA.csv
//	trainer validate DATA.csv
//	trainer versions [-artifacts DIR | -artifacts-url URL] [-json]
//	trainer rollback [-artifacts DIR | -artifacts-url URL] VERSION_ID
//
// Flags beat environment variables: ARTIFACTS_DIR (default ./artifacts),
// ARTIFACTS_URL (an object store, s3://BUCKET/PREFIX?endpoint=…, used
// instead of the directory when set) and BALANCED_CLASS_WEIGHT (True, true, 1, yes). Progress goes to stderr, one
// JSON result to stdout.
//
// Exit status: 0 done (for train: promoted or rejected), 1 invalid data (the
// problems are on stderr) or an unusable version, 2 usage, 3 anything else.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// Exit codes.
const (
	exitOK      = 0
	exitInvalid = 1
	exitUsage   = 2
	exitFailure = 3
)

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// invalidError wraps a failure caused by the input rather than the machine:
// a CSV that breaks the contract, or a version that cannot be served.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return e.err.Error() }
func (e *invalidError) Unwrap() error { return e.err }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var uerr *usageError
	var ierr *invalidError
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stderr, usage)
		return exitOK
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "trainer: %v\n\n%s", err, usage)
		return exitUsage
	case errors.As(err, &ierr):
		fmt.Fprintf(stderr, "trainer: %v\n", err)
		return exitInvalid
	default:
		fmt.Fprintf(stderr, "trainer: %v\n", err)
		return exitFailure
	}
}

var errHelp = errors.New("help requested")

const usage = `usage:
  trainer train [-artifacts DIR | -artifacts-url URL] [-balanced] [-eval FILE] [-seed N] DATA.csv
  trainer validate DATA.csv
  trainer versions [-artifacts DIR | -artifacts-url URL] [-json]
  trainer rollback [-artifacts DIR | -artifacts-url URL] VERSION_ID

environment (flags win): ARTIFACTS_DIR (default ./artifacts),
ARTIFACTS_URL (s3://BUCKET/PREFIX?endpoint=URL&region=R&use_path_style=true;
when set, used instead of ARTIFACTS_DIR; credentials from the AWS variables),
BALANCED_CLASS_WEIGHT (True/true/1/yes or False/false/0/no)

exit status: 0 done (train: promoted or rejected), 1 invalid data or
unusable version, 2 usage, 3 other failure
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("missing command")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "train":
		return runTrain(ctx, args, getenv, stdout, stderr)
	case "validate":
		return runValidate(args, stdout, stderr)
	case "versions":
		return runVersions(ctx, args, getenv, stdout)
	case "rollback":
		return runRollback(ctx, args, getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		return errHelp
	}
	return usagef("unknown command %q", cmd)
}

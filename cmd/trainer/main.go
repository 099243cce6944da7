// Command trainer validates a CSV file, trains a candidate model, and
// promotes it when it beats the current version under the promotion rule
// (by default F1, strictly greater). It also lists
// versions and rolls back.
//
//	trainer train [-artifacts DIR | -artifacts-url URL] [-model logistic|gbdt|auto] [-trees N] [-max-depth D] [-learning-rate R] [-early-stopping=BOOL] [-balanced] [-eval FILE] [-seed N] [-schema FILE] [-allow-schema-change] [-metric M] [-min-delta D] DATA.csv
//	trainer import -xgboost MODEL.json -eval FILE [-artifacts DIR | -artifacts-url URL] [-schema FILE] [-allow-schema-change] [-metric M] [-min-delta D]
//	trainer validate [-schema FILE] DATA.csv
//	trainer versions [-artifacts DIR | -artifacts-url URL] [-json]
//	trainer rollback [-artifacts DIR | -artifacts-url URL] [-allow-schema-change] VERSION_ID
//	trainer unpin [-artifacts DIR | -artifacts-url URL]
//	trainer promote [-artifacts DIR | -artifacts-url URL] [-allow-schema-change] VERSION_ID
//	trainer report [-artifacts DIR | -artifacts-url URL] [-out DIR]
//	trainer schema infer [-target COL] [-name NAME] DATA.csv
//
// DATA.csv or FILE may be "-" for standard input (not both) or a named pipe
// such as <(zcat day.csv.gz); each input is opened and read once.
// Flags beat environment variables: ARTIFACTS_DIR (default ./artifacts),
// ARTIFACTS_URL (an object store, s3://BUCKET/PREFIX?endpoint=…, used
// instead of the directory when set), SCHEMA_FILE, BALANCED_CLASS_WEIGHT
// (True, true, 1, yes), PROMOTE_METRIC, PROMOTE_MIN_DELTA, MODEL, TREES,
// MAX_DEPTH, LEARNING_RATE and EARLY_STOPPING. Progress goes to stderr, one JSON result to stdout;
// "trainer COMMAND -h" lists a command's flags.
//
// train without -schema (or SCHEMA_FILE) trains on the schema the current
// version was declared with, recorded in its metadata.json, and says so; it
// checks that it could write the artifacts before reading DATA.csv, and says
// when it has waited a second for another writer's lock.
//
// SIGINT or SIGTERM stops the trainer at any stage (validating, training,
// waiting for the artifacts lock, writing a version) with "interrupted" on
// stderr, leaving no new version behind; a second signal kills it at once.
//
// The trainer sizes the garbage collector from the input's size (see
// boundHeap); GOGC or GOMEMLIMIT in the environment take precedence.
//
// Exit status: 0 done (for train: promoted or rejected), 1 invalid data (the
// problems are on stderr) or an unusable version, 2 usage, 3 anything else,
// 130 interrupted by SIGINT, 143 by SIGTERM (128 + the signal number, as
// shells report it).
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
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		signal.Stop(sigs) // a second signal gets the default action: exit now
		cancel(&signalError{sig.(syscall.Signal)})
	}()
	p := proc{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, sizeHeap: boundHeap}
	err := run(ctx, os.Args[1:], p)
	os.Exit(exitCode(interrupted(ctx, err), os.Stderr))
}

// proc is what a run takes from its process.
type proc struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	// sizeHeap sets the garbage collector for an input of about rows rows.
	// Collector settings are process-wide, so only main sets it; nil (tests
	// running in-process) leaves them alone.
	sizeHeap func(rows float64)
}

// Exit codes.
const (
	exitOK      = 0
	exitInvalid = 1
	exitUsage   = 2
	exitFailure = 3
	// An interrupted run exits with 128 + the signal's number.
	exitSignalBase = 128
)

// usageError is a mistake in the command line. usage, when set, is the
// command's own help; else the general usage is shown.
type usageError struct{ msg, usage string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// helpError is a request for help (-h): text is printed and the exit is 0.
type helpError struct{ text string }

func (e *helpError) Error() string { return "help requested" }

// invalidError wraps a failure caused by the input rather than the machine:
// a CSV that breaks the contract, or a version that cannot be served.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return e.err.Error() }
func (e *invalidError) Unwrap() error { return e.err }

// signalError is the cause of a run cancelled by a signal.
type signalError struct{ sig syscall.Signal }

func (e *signalError) Error() string { return "interrupted by " + signalName(e.sig) }

var signalNames = map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}

func signalName(sig syscall.Signal) string {
	if name, ok := signalNames[sig]; ok {
		return name
	}
	return sig.String()
}

// interruptedError is a run that failed because a signal cancelled it.
type interruptedError struct {
	sig syscall.Signal
	err error
}

func (e *interruptedError) Error() string {
	return fmt.Sprintf("interrupted by %s: %v", signalName(e.sig), e.err)
}
func (e *interruptedError) Unwrap() error { return e.err }

// interrupted marks err as caused by a signal when one cancelled ctx. A run
// that finished anyway keeps its nil error.
func interrupted(ctx context.Context, err error) error {
	var serr *signalError
	if err != nil && errors.As(context.Cause(ctx), &serr) {
		return &interruptedError{sig: serr.sig, err: err}
	}
	return err
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var uerr *usageError
	var herr *helpError
	var ierr *invalidError
	var interr *interruptedError
	switch {
	case errors.As(err, &herr):
		fmt.Fprint(stderr, herr.text)
		return exitOK
	case errors.As(err, &uerr):
		u := uerr.usage
		if u == "" {
			u = usage
		}
		fmt.Fprintf(stderr, "trainer: %v\n\n%s", err, u)
		return exitUsage
	case errors.As(err, &interr):
		fmt.Fprintf(stderr, "trainer: %v\n", err)
		return exitSignalBase + int(interr.sig)
	case errors.As(err, &ierr):
		fmt.Fprintf(stderr, "trainer: %v\n", err)
		return exitInvalid
	default:
		fmt.Fprintf(stderr, "trainer: %v\n", err)
		return exitFailure
	}
}

const usage = `usage:
  trainer train [-artifacts DIR | -artifacts-url URL] [-model logistic|gbdt|auto] [-trees N] [-max-depth D] [-learning-rate R] [-early-stopping=BOOL] [-balanced] [-eval FILE] [-seed N] [-schema FILE] [-allow-schema-change] [-metric M] [-min-delta D] DATA.csv
  trainer import -xgboost MODEL.json -eval FILE [-artifacts DIR | -artifacts-url URL] [-schema FILE] [-allow-schema-change] [-metric M] [-min-delta D]
  trainer validate [-schema FILE] DATA.csv
  trainer schema infer [-target COL] [-name NAME] DATA.csv
  trainer versions [-artifacts DIR | -artifacts-url URL] [-json]
  trainer rollback [-artifacts DIR | -artifacts-url URL] [-allow-schema-change] VERSION_ID
      (pins CURRENT there: training runs are rejected until unpin)
  trainer unpin [-artifacts DIR | -artifacts-url URL]
  trainer promote [-artifacts DIR | -artifacts-url URL] [-allow-schema-change] VERSION_ID
      (moves CURRENT there without a pin)
  trainer report [-artifacts DIR | -artifacts-url URL] [-out DIR]

DATA.csv or FILE may be - for standard input (only one of them).
"trainer COMMAND -h" lists a command's flags.

environment (flags win): ARTIFACTS_DIR (default ./artifacts),
ARTIFACTS_URL (s3://BUCKET/PREFIX?endpoint=URL&region=R&use_path_style=true;
when set, used instead of ARTIFACTS_DIR; credentials from the AWS variables),
BALANCED_CLASS_WEIGHT (True/true/1/yes or False/false/0/no),
SCHEMA_FILE (default: for train the schema the current version was declared
with, else the built-in five-column contract, which -schema builtin names),
PROMOTE_METRIC (f1, roc_auc, pr_auc, log_loss or accuracy; default f1),
PROMOTE_MIN_DELTA (the candidate must beat the current version by more; default 0),
MODEL (logistic, gbdt or auto; default logistic), TREES (default 200),
MAX_DEPTH (default 6), LEARNING_RATE (default 0.1), EARLY_STOPPING (default true)

exit status: 0 done (train: promoted or rejected), 1 invalid data or
unusable version, 2 usage, 3 other failure, 130 SIGINT, 143 SIGTERM
`

func run(ctx context.Context, args []string, p proc) error {
	if len(args) == 0 {
		return usagef("missing command")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "train":
		return runTrain(ctx, args, p)
	case "validate":
		return runValidate(ctx, args, p)
	case "import":
		return runImport(ctx, args, p)
	case "versions":
		return runVersions(ctx, args, p.getenv, p.stdout, p.stderr)
	case "rollback":
		return runRollback(ctx, args, p.getenv, p.stdout, p.stderr)
	case "promote":
		return runPromote(ctx, args, p.getenv, p.stdout, p.stderr)
	case "unpin":
		return runUnpin(ctx, args, p.getenv, p.stdout, p.stderr)
	case "report":
		return runReport(ctx, args, p.getenv, p.stdout)
	case "schema":
		return runSchema(ctx, args, p)
	case "help", "-h", "-help", "--help":
		return &helpError{usage}
	}
	return usagef("unknown command %q", cmd)
}

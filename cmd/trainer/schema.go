package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mlservice/mlservice"
)

// schemaFlag is -schema, shared by train and validate.
func schemaFlag(fs *command, getenv func(string) string) *string {
	return fs.String("schema", envOr(getenv, "SCHEMA_FILE", ""),
		"schema `FILE` declaring the table (env SCHEMA_FILE; default: the built-in five-column contract)")
}

// loadSchema reads the schema file, or returns nil (the default schema)
// for "". A bad schema file is invalid input (exit 1).
func loadSchema(path string) (*mlservice.Schema, error) {
	if path == "" {
		return nil, nil
	}
	s, err := mlservice.LoadSchemaFile(path)
	if err != nil {
		if !errors.Is(err, mlservice.ErrInvalidSchema) {
			return nil, err // cannot be read: like a missing DATA.csv, not invalid data
		}
		return nil, &invalidError{err}
	}
	return s, nil
}

// runSchema runs "trainer schema infer".
func runSchema(ctx context.Context, args []string, p proc) error {
	if len(args) == 0 || args[0] != "infer" {
		return usagef("schema takes a subcommand: trainer schema infer [-target COL] [-name NAME] DATA.csv")
	}
	fs := newFlagSet("schema infer", "[-target COL] [-name NAME] DATA.csv",
		"Reads DATA.csv (- for standard input) and prints a draft schema for it on stdout,\nexplaining each choice on stderr: edit it, then train with -schema.")
	target := fs.String("target", "", "the label `COL`umn (no env; default: a column named target, label, class or y, else the last)")
	name := fs.String("name", "", "the schema's `NAME` (no env; default: the file's base name)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fsUsagef(fs, "schema infer takes one CSV file, got %d arguments", len(pos))
	}
	in, err := openInput(ctx, pos[0], p.stdin)
	if err != nil {
		return err
	}
	defer in.close()
	if *name == "" {
		*name = strings.TrimSuffix(filepath.Base(pos[0]), filepath.Ext(pos[0]))
		if *name == "" || *name == "-" || *name == "." {
			*name = "table"
		}
	}
	s, notes, err := mlservice.InferSchema(ctx, in.r, mlservice.InferOptions{Target: *target, Name: *name})
	for _, n := range notes {
		fmt.Fprintln(p.stderr, "infer:", n)
	}
	if err != nil {
		return &invalidError{err}
	}
	_, err = p.stdout.Write(s.MarshalIndent())
	return err
}

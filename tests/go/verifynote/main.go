// Command verifynote checks provledger's signed checkpoints and proofs with code provledger
// did not write: golang.org/x/mod/sumdb/note for the C2SP signed note and
// golang.org/x/mod/sumdb/tlog for every hash (leaves, trees, audit and consistency paths).
//
//	verifynote checkpoint  -key VKEY -origin ORIGIN NOTE
//	verifynote consistency -key VKEY -origin ORIGIN -old OLD_NOTE -proof PROOF_JSON NOTE
//	verifynote inclusion   -key VKEY -origin ORIGIN -proof PROOF_JSON NOTE
//
// checkpoint opens NOTE with the verifier key and prints its size, root and partitions.
//
// consistency opens OLD_NOTE and NOTE and checks that the log only grew from one to the
// other. PROOF_JSON is the "proof" of POST /v1/ledger/verify with OLD_NOTE as "since": one
// {partition, old_size, new_size, old_root, new_root, proof} per partition. The old roots
// must give OLD_NOTE's root and the new roots NOTE's root (the RFC 6962 tree over the head
// leaves), and each partition's new tree must extend its old one (tlog.CheckTree).
//
// inclusion checks that the record of PROOF_JSON (from `provledger prove` or
// GET /v1/ledger/proof) is in the log NOTE signs: its entry, its audit path to its
// partition's root, and that partition's head leaf's path to NOTE's root, at the size and
// place NOTE's partitions line gives.
//
// Each prints what it verified and exits 0, or prints why not to stderr and exits 1; a
// wrong command line exits 2.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `usage:
  verifynote checkpoint  -key VKEY -origin ORIGIN NOTE
  verifynote consistency -key VKEY -origin ORIGIN -old OLD_NOTE -proof PROOF_JSON NOTE
  verifynote inclusion   -key VKEY -origin ORIGIN -proof PROOF_JSON NOTE
`

type options struct {
	key, origin, old, proof, note string
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	command := os.Args[1]
	opts, ok := parseOptions(command, os.Args[2:])
	if !ok {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err := run(command, opts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "verifynote:", err)
		os.Exit(1)
	}
}

// parseOptions reads the flags of one subcommand; false when they are not the ones it needs.
func parseOptions(command string, args []string) (options, bool) {
	var opts options
	flags := flag.NewFlagSet(command, flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.StringVar(&opts.key, "key", "", "the log's verifier key")
	flags.StringVar(&opts.origin, "origin", "", "the origin line the checkpoints must have")
	flags.StringVar(&opts.old, "old", "", "an older signed checkpoint of the same log")
	flags.StringVar(&opts.proof, "proof", "", "the proof, as JSON")
	if flags.Parse(args) != nil || flags.NArg() != 1 || opts.key == "" || opts.origin == "" {
		return opts, false
	}
	opts.note = flags.Arg(0)
	switch command {
	case "checkpoint":
		return opts, opts.old == "" && opts.proof == ""
	case "consistency":
		return opts, opts.old != "" && opts.proof != ""
	case "inclusion":
		return opts, opts.old == "" && opts.proof != ""
	}
	return opts, false
}

func run(command string, opts options, out io.Writer) error {
	opener, err := newOpener(opts.key, opts.origin)
	if err != nil {
		return err
	}
	head, err := opener.open(opts.note)
	if err != nil {
		return err
	}
	switch command {
	case "consistency":
		old, err := opener.open(opts.old)
		if err != nil {
			return err
		}
		return checkConsistency(old, head, opts.proof, out)
	case "inclusion":
		return checkInclusion(head, opts.proof, out)
	}
	fmt.Fprintf(out, "size %d\nroot %s\npartitions %s\n", head.tree.N, head.tree.Hash, head.cut)
	return nil
}

// Command verifynote checks a provledger checkpoint with code provledger did not write:
// golang.org/x/mod/sumdb/note for the C2SP signed note and golang.org/x/mod/sumdb/tlog for
// the tree head and an RFC 6962 consistency proof between two checkpoints.
//
//	verifynote -key VERIFIER_KEY -origin ORIGIN NOTE_FILE
//	verifynote -key VERIFIER_KEY -origin ORIGIN -old OLD_NOTE_FILE -proof PROOF_FILE NOTE_FILE
//
// PROOF_FILE holds one base64 hash per line (the "proof" of POST /v1/ledger/verify with the
// old checkpoint as "since"). It prints the size and root and exits 0, or says why not and
// exits 1.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// tlog.ParseTree reads the tree note of Go's checksum database, whose first line is this
// fixed origin; a C2SP tlog-checkpoint is the same text with the log's own origin there.
const goSumOrigin = "go.sum database tree"

func main() {
	key := flag.String("key", "", "the log's verifier key")
	origin := flag.String("origin", "", "the origin line the checkpoint must have")
	oldNote := flag.String("old", "", "an older signed checkpoint of the same log")
	proofFile := flag.String("proof", "", "the consistency proof from -old to NOTE_FILE")
	flag.Parse()
	if *key == "" || *origin == "" || flag.NArg() != 1 || (*oldNote == "") != (*proofFile == "") {
		fmt.Fprintln(os.Stderr, "usage: verifynote -key VKEY -origin ORIGIN [-old FILE -proof FILE] NOTE_FILE")
		os.Exit(2)
	}
	if err := run(*key, *origin, flag.Arg(0), *oldNote, *proofFile); err != nil {
		fmt.Fprintln(os.Stderr, "verifynote:", err)
		os.Exit(1)
	}
}

func run(vkey, origin, notePath, oldPath, proofPath string) error {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("verifier key: %w", err)
	}
	tree, err := openCheckpoint(notePath, verifier, origin)
	if err != nil {
		return err
	}
	fmt.Printf("size %d\nroot %s\n", tree.N, tree.Hash)
	if oldPath == "" {
		return nil
	}
	old, err := openCheckpoint(oldPath, verifier, origin)
	if err != nil {
		return err
	}
	proof, err := readProof(proofPath)
	if err != nil {
		return err
	}
	if err := tlog.CheckTree(proof, tree.N, tree.Hash, old.N, old.Hash); err != nil {
		return fmt.Errorf("consistency from %d to %d: %w", old.N, tree.N, err)
	}
	fmt.Printf("consistent from %d to %d\n", old.N, tree.N)
	return nil
}

func openCheckpoint(path string, verifier note.Verifier, origin string) (tlog.Tree, error) {
	msg, err := os.ReadFile(path)
	if err != nil {
		return tlog.Tree{}, err
	}
	opened, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("%s: %w", path, err)
	}
	first, rest, found := strings.Cut(opened.Text, "\n")
	if !found || first != origin {
		return tlog.Tree{}, fmt.Errorf("%s: origin %q, want %q", path, first, origin)
	}
	tree, err := tlog.ParseTree([]byte(goSumOrigin + "\n" + rest))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("%s: %w", path, err)
	}
	return tree, nil
}

func readProof(path string) (tlog.TreeProof, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var proof tlog.TreeProof
	lines := bufio.NewScanner(bytes.NewReader(data))
	for lines.Scan() {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(lines.Text()))
		if err != nil || len(raw) != tlog.HashSize {
			return nil, errors.New("proof: a line is not a base64 SHA-256 hash")
		}
		var hash tlog.Hash
		copy(hash[:], raw)
		proof = append(proof, hash)
	}
	return proof, lines.Err()
}

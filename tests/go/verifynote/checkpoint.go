package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// tlog.ParseTree reads the tree note of Go's checksum database, whose first line is this
// fixed origin; a C2SP tlog-checkpoint is the same text with the log's own origin there.
const goSumOrigin = "go.sum database tree"

const partitionsPrefix = "partitions "

// partitionSize is one pair of a checkpoint's partitions line.
type partitionSize struct {
	partition uint32
	size      int64
}

// cut is the partitions line: the non-empty partitions in increasing order.
type cut []partitionSize

func (c cut) String() string {
	pairs := make([]string, len(c))
	for i, p := range c {
		pairs[i] = fmt.Sprintf("%d:%d", p.partition, p.size)
	}
	return strings.Join(pairs, " ")
}

// find is the partition's place in the cut and its size; -1 when the cut does not have it.
func (c cut) find(partition uint32) (int, int64) {
	for i, p := range c {
		if p.partition == partition {
			return i, p.size
		}
	}
	return -1, 0
}

type checkpoint struct {
	path   string
	origin string
	tree   tlog.Tree
	cut    cut
}

type opener struct {
	verifiers note.Verifiers
	origin    string
}

func newOpener(vkey, origin string) (opener, error) {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return opener{}, fmt.Errorf("verifier key: %w", err)
	}
	return opener{note.VerifierList(verifier), origin}, nil
}

// open checks the note's signature, then reads its body: origin, size, root, partitions.
func (o opener) open(path string) (checkpoint, error) {
	msg, err := os.ReadFile(path)
	if err != nil {
		return checkpoint{}, err
	}
	opened, err := note.Open(msg, o.verifiers)
	if err != nil {
		return checkpoint{}, fmt.Errorf("%s: %w", path, err)
	}
	first, rest, _ := strings.Cut(opened.Text, "\n")
	if first != o.origin {
		return checkpoint{}, fmt.Errorf("%s: origin %q, want %q", path, first, o.origin)
	}
	tree, err := tlog.ParseTree([]byte(goSumOrigin + "\n" + rest))
	if err != nil {
		return checkpoint{}, fmt.Errorf("%s: %w", path, err)
	}
	partitions, err := parseCut(strings.SplitN(rest, "\n", 3)[2], tree.N)
	if err != nil {
		return checkpoint{}, fmt.Errorf("%s: %w", path, err)
	}
	return checkpoint{path, first, tree, partitions}, nil
}

// parseCut reads the partitions line among the extension lines; its sizes must add up to
// the checkpoint's size, and a non-empty log must have one (its proofs need it).
func parseCut(extensions string, size int64) (cut, error) {
	var line string
	for _, candidate := range strings.Split(extensions, "\n") {
		if rest, found := strings.CutPrefix(candidate, partitionsPrefix); found {
			line = rest
			break
		}
	}
	var parsed cut
	var total int64
	for _, pair := range strings.Fields(line) {
		partText, sizeText, _ := strings.Cut(pair, ":")
		partition, err1 := strconv.ParseUint(partText, 10, 32)
		count, err2 := strconv.ParseUint(sizeText, 10, 63)
		if err1 != nil || err2 != nil || count < 1 {
			return nil, fmt.Errorf("partitions line: %q is not partition:size", pair)
		}
		if len(parsed) > 0 && uint32(partition) <= parsed[len(parsed)-1].partition {
			return nil, errors.New("partitions line: partitions not in increasing order")
		}
		if int64(count) > size-total {
			return nil, fmt.Errorf("partitions line %q adds up to more than the size %d", line, size)
		}
		parsed = append(parsed, partitionSize{uint32(partition), int64(count)})
		total += int64(count)
	}
	if total != size {
		return nil, fmt.Errorf("partitions line %q does not add up to the size %d", line, size)
	}
	return parsed, nil
}

// partitionHead is what a head leaf commits to: a partition, its size and its tree's root.
type partitionHead struct {
	partition uint32
	size      int64
	root      tlog.Hash
}

// data is the head leaf's record: u32 partition || u64 size || root (tlog.RecordHash adds
// the 0x00 leaf prefix).
func (h partitionHead) data() []byte {
	data := binary.BigEndian.AppendUint32(nil, h.partition)
	data = binary.BigEndian.AppendUint64(data, uint64(h.size))
	return append(data, h.root[:]...)
}

// headRoot is the log's root: tlog's tree over the head leaves, in partition order.
func headRoot(heads []partitionHead) (tlog.Hash, error) {
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		hashes := make([]tlog.Hash, len(indexes))
		for i, index := range indexes {
			if index < 0 || index >= int64(len(stored)) {
				return nil, fmt.Errorf("no stored hash %d", index)
			}
			hashes[i] = stored[index]
		}
		return hashes, nil
	})
	for n, head := range heads {
		hashes, err := tlog.StoredHashes(int64(n), head.data(), reader)
		if err != nil {
			return tlog.Hash{}, err
		}
		stored = append(stored, hashes...)
	}
	return tlog.TreeHash(int64(len(heads)), reader)
}

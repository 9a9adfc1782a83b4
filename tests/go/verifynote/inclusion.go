package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/tlog"
)

const inclusionFormat = "provledger-inclusion-proof/v1"

// inclusionProof is the document of `provledger prove` and GET /v1/ledger/proof. Its
// head_proof's index and size are not read: the checkpoint's partitions line gives them.
type inclusionProof struct {
	Format string `json:"format"`
	Origin string `json:"origin"`
	Record struct {
		Partition *uint32 `json:"partition"`
		Offset    *uint64 `json:"offset"`
		Index     int64   `json:"index"`
		Entry     []byte  `json:"entry"`
		LeafHash  []byte  `json:"leaf_hash"`
		Value     []byte  `json:"value"`
	} `json:"record"`
	PartitionProof struct {
		Size int64    `json:"size"`
		Root []byte   `json:"root"`
		Path [][]byte `json:"path"`
	} `json:"partition_proof"`
	HeadProof struct {
		Path [][]byte `json:"path"`
	} `json:"head_proof"`
}

func checkInclusion(head checkpoint, proofPath string, out io.Writer) error {
	data, err := os.ReadFile(proofPath)
	if err != nil {
		return err
	}
	var doc inclusionProof
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: not an inclusion proof: %w", proofPath, err)
	}
	if doc.Format != inclusionFormat {
		return fmt.Errorf("%s: format %q, want %q", proofPath, doc.Format, inclusionFormat)
	}
	if doc.Origin != head.origin {
		return fmt.Errorf("the proof is for log %q, the checkpoint is %q", doc.Origin, head.origin)
	}
	leaf, err := checkEntry(&doc)
	if err != nil {
		return err
	}
	partitionRoot, err := checkPartitionPath(&doc, head, leaf)
	if err != nil {
		return err
	}
	if err := checkHeadPath(&doc, head, partitionRoot); err != nil {
		return err
	}
	// Only what the log commits to: the outcome, event and dead letter of the document are
	// the ledger's word, which no hash here covers.
	shown := "no value shown"
	if doc.Record.Value != nil {
		shown = "its value matches the entry's digest"
	}
	fmt.Fprintf(out, "partition %d offset %d (index %d) is in the log of %d records; %s\n",
		*doc.Record.Partition, *doc.Record.Offset, doc.Record.Index, head.tree.N, shown)
	return nil
}

// checkEntry ties the record to its entry and its entry to its leaf: the leaf hash is
// tlog.RecordHash(entry), the entry names the record's partition and offset, and a value
// shown must be the one whose digest the entry carries. It returns the leaf hash.
func checkEntry(doc *inclusionProof) (tlog.Hash, error) {
	record := &doc.Record
	if record.Partition == nil || record.Offset == nil {
		return tlog.Hash{}, errors.New("the proof's record names no partition or offset")
	}
	leaf := tlog.RecordHash(record.Entry)
	claimed, err := hash(record.LeafHash)
	if err != nil || claimed != leaf {
		return tlog.Hash{}, errors.New("leaf_hash is not SHA-256(0x00 || entry)")
	}
	parsed, err := parseEntry(record.Entry)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("entry: %w", err)
	}
	if parsed.partition != *record.Partition || parsed.offset != *record.Offset {
		return tlog.Hash{}, fmt.Errorf("the entry names partition %d offset %d, the record %d %d",
			parsed.partition, parsed.offset, *record.Partition, *record.Offset)
	}
	if record.Value != nil {
		if parsed.valueDigest == nil {
			return tlog.Hash{}, errors.New("a value is shown, but the entry's record has none")
		}
		if digest := sha256.Sum256(record.Value); !bytes.Equal(digest[:], parsed.valueDigest) {
			return tlog.Hash{}, errors.New("the value shown is not the one the entry commits to")
		}
	}
	return leaf, nil
}

// checkPartitionPath runs the record's audit path to the partition's root, in a tree of the
// size the checkpoint gives the partition. It returns that root.
func checkPartitionPath(doc *inclusionProof, head checkpoint, leaf tlog.Hash) (tlog.Hash, error) {
	partition := *doc.Record.Partition
	_, size := head.cut.find(partition)
	if size == 0 || doc.PartitionProof.Size != size {
		return tlog.Hash{}, fmt.Errorf("the proof is for %d records of partition %d, the "+
			"checkpoint has %d: get a proof against this checkpoint",
			doc.PartitionProof.Size, partition, size)
	}
	root, err := hash(doc.PartitionProof.Root)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("partition_proof.root: %w", err)
	}
	path, err := hashes(doc.PartitionProof.Path)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("partition_proof.path: %w", err)
	}
	if err := tlog.CheckRecord(path, size, root, doc.Record.Index, leaf); err != nil {
		return tlog.Hash{}, fmt.Errorf("the record's audit path (index %d of %d) does not lead "+
			"to its partition's root: %w", doc.Record.Index, size, err)
	}
	return root, nil
}

// checkHeadPath runs the partition's head leaf's path to the checkpoint's root, at the place
// and among as many heads as the checkpoint's partitions line gives.
func checkHeadPath(doc *inclusionProof, head checkpoint, partitionRoot tlog.Hash) error {
	partition := *doc.Record.Partition
	position, size := head.cut.find(partition)
	leaf := tlog.RecordHash(partitionHead{partition, size, partitionRoot}.data())
	path, err := hashes(doc.HeadProof.Path)
	if err != nil {
		return fmt.Errorf("head_proof.path: %w", err)
	}
	count := int64(len(head.cut))
	if err := tlog.CheckRecord(path, count, head.tree.Hash, int64(position), leaf); err != nil {
		return fmt.Errorf("the head of partition %d (place %d of %d) does not lead to the "+
			"checkpoint's root: %w", partition, position, count, err)
	}
	return nil
}

// entry is what verifynote reads of a record entry: u32 partition || u64 offset ||
// field(key) || u32 header count || (field(name) || field(value))* || value digest, where
// field(x) is u32 0xFFFFFFFF for null else u32 len || x, and the digest 0x00 for a null
// value else 0x01 || SHA-256(value). Walking every field (not reading the last 33 bytes)
// keeps a header's bytes from passing for the value digest.
type entry struct {
	partition   uint32
	offset      uint64
	valueDigest []byte
}

func parseEntry(raw []byte) (entry, error) {
	reader := entryReader{raw}
	var parsed entry
	parsed.partition = uint32(reader.uint(4))
	parsed.offset = reader.uint(8)
	reader.field() // key
	headers := reader.uint(4)
	for i := uint64(0); i < headers && reader.rest != nil; i++ {
		reader.field() // name
		reader.field() // value
	}
	switch marker := reader.take(1); {
	case marker == nil:
	case marker[0] == 0x00:
	case marker[0] == 0x01:
		parsed.valueDigest = reader.take(sha256.Size)
	default:
		return entry{}, fmt.Errorf("value digest marker %#x is neither 0x00 nor 0x01", marker[0])
	}
	if reader.rest == nil || len(reader.rest) != 0 {
		return entry{}, errors.New("not partition, offset, key, headers and value digest")
	}
	return parsed, nil
}

// entryReader reads big-endian fields; once one is short, rest is nil and stays so.
type entryReader struct{ rest []byte }

func (r *entryReader) take(n uint64) []byte {
	if r.rest == nil || uint64(len(r.rest)) < n {
		r.rest = nil
		return nil
	}
	taken := r.rest[:n]
	r.rest = r.rest[n:]
	return taken
}

func (r *entryReader) uint(size uint64) uint64 {
	raw := r.take(size)
	switch {
	case raw == nil:
		return 0
	case size == 4:
		return uint64(binary.BigEndian.Uint32(raw))
	}
	return binary.BigEndian.Uint64(raw)
}

func (r *entryReader) field() {
	if length := r.uint(4); length != 0xFFFFFFFF {
		r.take(length)
	}
}

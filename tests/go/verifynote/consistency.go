package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/tlog"
)

// partitionProof is one partition's part of POST /v1/ledger/verify's "proof". encoding/json
// decodes base64 strings into []byte.
type partitionProof struct {
	Partition *uint32  `json:"partition"`
	OldSize   int64    `json:"old_size"`
	NewSize   int64    `json:"new_size"`
	OldRoot   []byte   `json:"old_root"`
	NewRoot   []byte   `json:"new_root"`
	Proof     [][]byte `json:"proof"`
}

func checkConsistency(old, head checkpoint, proofPath string, out io.Writer) error {
	parts, err := readPartitionProofs(proofPath)
	if err != nil {
		return err
	}
	oldHeads, newHeads, err := matchCuts(old.cut, head.cut, parts)
	if err != nil {
		return err
	}
	if err := checkHeadRoot(oldHeads, old); err != nil {
		return err
	}
	if err := checkHeadRoot(newHeads, head); err != nil {
		return err
	}
	for i, part := range parts {
		if part.OldSize == 0 {
			continue // a partition the old checkpoint did not have: any tree extends nothing
		}
		proof, err := hashes(part.Proof)
		if err != nil {
			return fmt.Errorf("partition %d: proof: %w", *part.Partition, err)
		}
		newRoot, oldRoot := newHeads[i].root, oldHeads[i].root
		if err := tlog.CheckTree(proof, part.NewSize, newRoot, part.OldSize, oldRoot); err != nil {
			return fmt.Errorf("partition %d: consistency from %d to %d: %w",
				*part.Partition, part.OldSize, part.NewSize, err)
		}
		fmt.Fprintf(out, "partition %d consistent from %d to %d\n",
			*part.Partition, part.OldSize, part.NewSize)
	}
	fmt.Fprintf(out, "consistent from %d to %d\n", old.tree.N, head.tree.N)
	return nil
}

func readPartitionProofs(path string) ([]partitionProof, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var parts []partitionProof
	if err := json.Unmarshal(data, &parts); err != nil {
		return nil, fmt.Errorf("%s: not a consistency proof: %w", path, err)
	}
	for _, part := range parts {
		if part.Partition == nil {
			return nil, fmt.Errorf("%s: a part names no partition", path)
		}
	}
	return parts, nil
}

// matchCuts pairs the proof's parts with the checkpoints' partitions lines: one part per
// partition of the new checkpoint, at the sizes the checkpoints (not the proof) give. It
// returns the heads of both checkpoints, in the parts' order, with empty old heads left out.
func matchCuts(oldCut, newCut cut, parts []partitionProof) ([]partitionHead, []partitionHead, error) {
	if len(parts) != len(newCut) {
		return nil, nil, fmt.Errorf("the proof has %d partitions, the new checkpoint %d (%s)",
			len(parts), len(newCut), newCut)
	}
	for _, was := range oldCut {
		if place, _ := newCut.find(was.partition); place < 0 {
			return nil, nil, fmt.Errorf("the new checkpoint has no partition %d", was.partition)
		}
	}
	var oldHeads, newHeads []partitionHead
	for i, part := range parts {
		partition := *part.Partition
		if newCut[i].partition != partition || newCut[i].size != part.NewSize {
			return nil, nil, fmt.Errorf("the proof's partition %d at %d records is not the new "+
				"checkpoint's %d:%d", partition, part.NewSize, newCut[i].partition, newCut[i].size)
		}
		if _, oldSize := oldCut.find(partition); oldSize != part.OldSize {
			return nil, nil, fmt.Errorf("the proof has partition %d at %d records, the old "+
				"checkpoint %d", partition, part.OldSize, oldSize)
		}
		newRoot, err := hash(part.NewRoot)
		if err != nil {
			return nil, nil, fmt.Errorf("partition %d: new_root: %w", partition, err)
		}
		newHeads = append(newHeads, partitionHead{partition, part.NewSize, newRoot})
		oldRoot, err := hash(part.OldRoot)
		if err != nil && part.OldSize > 0 {
			return nil, nil, fmt.Errorf("partition %d: old_root: %w", partition, err)
		}
		oldHeads = append(oldHeads, partitionHead{partition, part.OldSize, oldRoot})
	}
	return oldHeads, newHeads, nil
}

// checkHeadRoot requires the heads of the checkpoint's non-empty partitions to give its root.
func checkHeadRoot(heads []partitionHead, signed checkpoint) error {
	var nonEmpty []partitionHead
	for _, head := range heads {
		if head.size > 0 {
			nonEmpty = append(nonEmpty, head)
		}
	}
	root, err := headRoot(nonEmpty)
	if err != nil {
		return err
	}
	if root != signed.tree.Hash {
		return fmt.Errorf("%s: the partition roots of the proof give root %s, the checkpoint "+
			"signed %s", signed.path, root, signed.tree.Hash)
	}
	return nil
}

func hash(raw []byte) (tlog.Hash, error) {
	var h tlog.Hash
	if len(raw) != tlog.HashSize {
		return h, errors.New("not a base64 SHA-256 hash")
	}
	copy(h[:], raw)
	return h, nil
}

func hashes(raws [][]byte) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(raws))
	for i, raw := range raws {
		h, err := hash(raw)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

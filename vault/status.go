package vault

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Status is what `patchbay keys status` prints (§18.3).
type Status struct {
	MasterFingerprint   string
	PreviousFingerprint string // "" when no previous master key is configured
	RecordsCounted      bool   // VersionStatus.Records and UnknownRecords are filled
	Accounts            []AccountStatus
}

// AccountStatus lists one account's data-key versions in ascending order.
type AccountStatus struct {
	AccountID string
	Versions  []VersionStatus
	// UnknownRecords counts records that are malformed or name a version the
	// account does not have; they will not open.
	UnknownRecords int
}

// VersionStatus describes one data-key version.
type VersionStatus struct {
	Version           uint32
	Status            string
	Encryptions       uint64 // reserved so far
	MasterFingerprint string
	CreatedAt         time.Time
	Records           int // records sealed with this version; only if counted
}

// Status reports the master-key fingerprints and every account's data-key
// versions. With a non-nil records it also reads every sealed record (one
// pass, Options.RotateBatch per page) to count records per version.
func (v *Vault) Status(ctx context.Context, records RecordStore) (Status, error) {
	m := v.masters.Load()
	st := Status{MasterFingerprint: m.current.fp, RecordsCounted: records != nil}
	if m.previous != nil {
		st.PreviousFingerprint = m.previous.fp
	}
	all, err := v.keys.AllDataKeys(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("vault: status: %w", err)
	}
	slices.SortFunc(all, compareKeys)
	for _, wk := range all {
		if n := len(st.Accounts); n == 0 || st.Accounts[n-1].AccountID != wk.AccountID {
			st.Accounts = append(st.Accounts, AccountStatus{AccountID: wk.AccountID})
		}
		as := &st.Accounts[len(st.Accounts)-1]
		as.Versions = append(as.Versions, VersionStatus{
			Version:           wk.Version,
			Status:            wk.Status,
			Encryptions:       wk.Encryptions,
			MasterFingerprint: wk.MasterFingerprint,
			CreatedAt:         wk.CreatedAt,
		})
	}
	if records == nil {
		return st, nil
	}
	for i := range st.Accounts {
		if err := v.countRecords(ctx, records, &st.Accounts[i]); err != nil {
			return Status{}, err
		}
	}
	return st, nil
}

func (v *Vault) countRecords(ctx context.Context, records RecordStore, as *AccountStatus) error {
	index := make(map[uint32]int, len(as.Versions))
	for i, vs := range as.Versions {
		index[vs.Version] = i
	}
	cursor := ""
	for {
		recs, next, err := records.SealedRecords(ctx, as.AccountID, cursor, v.batch)
		if err != nil {
			return fmt.Errorf("vault: status: read sealed records: %w", err)
		}
		for _, rec := range recs {
			ver, ok := RecordVersion(rec.Ciphertext)
			i, known := index[ver]
			if !ok || !known {
				as.UnknownRecords++
				continue
			}
			as.Versions[i].Records++
		}
		if next == "" || next == cursor {
			return nil
		}
		cursor = next
	}
}

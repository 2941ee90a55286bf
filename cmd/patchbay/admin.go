package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/vault"
)

// offline opens the store and vault for a command that runs beside (or
// instead of) serve.
type offline struct {
	cfg Config
	db  store
	v   *vault.Vault
}

func openOffline(ctx context.Context, e *env, cmd *cobra.Command, cfg *Config, needVault bool) (*offline, error) {
	if err := applyEnv(cmd.Flags(), e.getenv); err != nil {
		return nil, usageErr("%v", err)
	}
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = "sqlite://" + strings.TrimRight(cfg.DataDir, "/") + "/patchbay.db"
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	o := &offline{cfg: *cfg, db: db}
	if needVault {
		if o.v, err = openVault(ctx, cfg, db, e.getenv, func(w string) { e.stderrf("patchbay: warning: %s\n", w) }); err != nil {
			_ = db.Close() // the vault's error is the one to report
			return nil, err
		}
	}
	return o, nil
}

// close closes the store. The command's work is done or has failed by then,
// so a failure is only worth a warning.
func (o *offline) close(e *env) {
	if err := o.db.Close(); err != nil {
		e.stderrf("patchbay: warning: close the database: %v\n", err)
	}
}

func migrateCmd(e *env) *cobra.Command {
	cfg := DefaultConfig()
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := openOffline(cmd.Context(), e, cmd, &cfg, false)
			if err != nil {
				return err
			}
			defer o.close(e)
			_, err = fmt.Fprintln(e.stdout, "migrations applied")
			return err
		},
	}
	storeFlags(cmd.Flags(), &cfg)
	return cmd
}

func keysCmd(e *env) *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Encryption keys: rotate data keys or the master key, report status"}
	cfg := DefaultConfig()
	var account, newMasterFile string
	var master bool
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Add a data-key version per account and rewrap every record, or move everything under a new master key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			o, err := openOffline(ctx, e, cmd, &cfg, true)
			if err != nil {
				return err
			}
			defer o.close(e)
			if master {
				return rotateMaster(ctx, e, o, newMasterFile)
			}
			if newMasterFile != "" {
				return usageErr("--new-master-key-file needs --master")
			}
			res, err := o.v.Rotate(ctx, account, o.db)
			if err != nil {
				return err
			}
			// A failed report does not stop the audit of rotations that
			// happened; it is returned at the end.
			var werr error
			for _, r := range res.Accounts {
				if _, err := fmt.Fprintf(e.stdout, "account %s: data key version %d, %d records rewrapped, %d failed, %d skipped, retired %v\n",
					r.AccountID, r.NewVersion, r.Rewrapped, r.Failed, r.Skipped, r.Retired); err != nil && werr == nil {
					werr = err
				}
				auditCLI(ctx, o.db, r.AccountID, "encryption.keys_rotated", map[string]any{"newVersion": r.NewVersion})
				if r.Failed > 0 {
					return fmt.Errorf("account %s: %d records could not be decrypted", r.AccountID, r.Failed)
				}
			}
			return werr
		},
	}
	storeFlags(rotate.Flags(), &cfg)
	rotate.Flags().StringVar(&account, "account", "", "rotate only this account")
	rotate.Flags().BoolVar(&master, "master", false, "rewrap all data keys under a new master key")
	rotate.Flags().StringVar(&newMasterFile, "new-master-key-file", "", "file holding the new master key (base64)")

	scfg := DefaultConfig()
	status := &cobra.Command{
		Use:   "status",
		Short: "Data-key versions per account, master-key fingerprint, records per version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := openOffline(cmd.Context(), e, cmd, &scfg, true)
			if err != nil {
				return err
			}
			defer o.close(e)
			st, err := o.v.Status(cmd.Context(), o.db)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(e.stdout, "master key fingerprint: %s\n", st.MasterFingerprint); err != nil {
				return err
			}
			if st.PreviousFingerprint != "" {
				if _, err := fmt.Fprintf(e.stdout, "previous master key fingerprint: %s\n", st.PreviousFingerprint); err != nil {
					return err
				}
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			if _, err := fmt.Fprintln(tw, "ACCOUNT\tVERSION\tSTATUS\tRECORDS\tENCRYPTIONS\tMASTER"); err != nil {
				return err
			}
			for _, a := range st.Accounts {
				for _, v := range a.Versions {
					if _, err := fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\n", a.AccountID, v.Version, v.Status, v.Records, v.Encryptions, v.MasterFingerprint); err != nil {
						return err
					}
				}
			}
			return tw.Flush()
		},
	}
	storeFlags(status.Flags(), &scfg)
	keys.AddCommand(rotate, status)
	return keys
}

func rotateMaster(ctx context.Context, e *env, o *offline, path string) error {
	if path == "" {
		return usageErr("--master needs --new-master-key-file")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return usageErr("read --new-master-key-file: %v", err)
	}
	newMaster, err := vault.ParseMasterKey(string(raw))
	if err != nil {
		return err
	}
	n, err := o.v.RotateMaster(ctx, newMaster)
	if err != nil {
		return err
	}
	// The keys are rewrapped: the new master file is installed even when
	// this report cannot be written, and the write error returned after.
	_, werr := fmt.Fprintf(e.stdout, "rewrapped %d data keys under master key %s\n", n, vault.Fingerprint(newMaster))
	if e.getenv(vault.EnvMasterKey) != "" {
		if _, err := fmt.Fprintln(e.stdout, "set PATCHBAY_MASTER_KEY to the new key and PATCHBAY_MASTER_KEY_PREVIOUS to the old one until every instance has restarted"); werr == nil {
			werr = err
		}
		return werr
	}
	if err := vault.InstallMasterFile(o.cfg.DataDir, newMaster); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(e.stdout, "installed the new %s/master.key; the old key is kept as master.key.previous\n", o.cfg.DataDir); werr == nil {
		werr = err
	}
	return werr
}

func accountsCmd(e *env) *cobra.Command {
	accounts := &cobra.Command{Use: "accounts", Short: "Create and list accounts (tenants)"}
	cfg := DefaultConfig()
	var name, adminUser string
	create := &cobra.Command{
		Use:   "create ID",
		Short: "Create an account with an admin API key (printed once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			o, err := openOffline(ctx, e, cmd, &cfg, true)
			if err != nil {
				return err
			}
			defer o.close(e)
			if name == "" {
				name = args[0]
			}
			key, err := createAccount(ctx, o.db, o.v, args[0], name, adminUser, "")
			if err != nil {
				if patchbay.IsCode(err, patchbay.EConflict) {
					return fmt.Errorf("account %q already exists", args[0])
				}
				return err
			}
			if _, err := fmt.Fprintf(e.stdout, "account %s created; admin API key for %s (shown once): %s\n", args[0], adminUser, key); err != nil {
				// The account exists; the failure must not pass for success.
				return fmt.Errorf("account %s created, but its admin API key could not be printed: %w", args[0], err)
			}
			return nil
		},
	}
	storeFlags(create.Flags(), &cfg)
	create.Flags().StringVar(&name, "name", "", "display name (default: the ID)")
	create.Flags().StringVar(&adminUser, "admin-user", "admin", "user ID of the admin key")

	lcfg := DefaultConfig()
	list := &cobra.Command{
		Use:   "list",
		Short: "List account IDs and names",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := openOffline(cmd.Context(), e, cmd, &lcfg, false)
			if err != nil {
				return err
			}
			defer o.close(e)
			all, err := o.db.ListAccounts(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			if _, err := fmt.Fprintln(tw, "ID\tNAME"); err != nil {
				return err
			}
			for _, a := range all {
				if _, err := fmt.Fprintf(tw, "%s\t%s\n", a.ID, a.Name); err != nil {
					return err
				}
			}
			return tw.Flush()
		},
	}
	storeFlags(list.Flags(), &lcfg)
	accounts.AddCommand(create, list)
	return accounts
}

func apikeysCmd(e *env) *cobra.Command {
	apikeys := &cobra.Command{Use: "apikeys", Short: "Recovery: create API keys directly in the database"}
	cfg := DefaultConfig()
	var account, user, role, name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key (printed once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if account == "" || user == "" {
				return usageErr("--account and --user are required")
			}
			if role != patchbay.RoleAdmin && role != patchbay.RoleUser {
				return usageErr("--role must be admin or user")
			}
			if !patchbay.ValidUserID(user) {
				return usageErr("--user %q is not a valid user ID", user)
			}
			o, err := openOffline(ctx, e, cmd, &cfg, true)
			if err != nil {
				return err
			}
			defer o.close(e)
			if _, err := o.db.FindAccount(ctx, account); err != nil {
				return fmt.Errorf("account %q: %w", account, err)
			}
			key, err := createKey(ctx, o.db, o.v, account, user, role, name, "")
			if err != nil {
				return err
			}
			auditCLI(ctx, o.db, account, "key.created", map[string]any{"role": role})
			if _, err := fmt.Fprintf(e.stdout, "API key for %s in %s (shown once): %s\n", user, account, key); err != nil {
				// The key exists; the failure must not pass for success.
				return fmt.Errorf("API key for %s in %s created, but it could not be printed: %w", user, account, err)
			}
			return nil
		},
	}
	storeFlags(create.Flags(), &cfg)
	create.Flags().StringVar(&account, "account", "", "account ID")
	create.Flags().StringVar(&user, "user", "", "user ID")
	create.Flags().StringVar(&role, "role", "admin", "admin or user")
	create.Flags().StringVar(&name, "name", "recovery", "key name")
	apikeys.AddCommand(create)
	return apikeys
}

package appliance

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"bulwark/core/certs"
	"bulwark/core/config"
	"bulwark/core/pki"
)

// StoreFile is the SQLite database inside the data folder.
const StoreFile = "bulwark.db"

// PrepareData makes sure dir is a usable data folder: created 0700 when missing; an existing
// one must be a directory its owner can read, write and enter. Nothing inside is touched.
func PrepareData(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("data folder %s: %w", dir, err)
		}
		return os.Chmod(dir, 0o700) // MkdirAll applies the umask
	case err != nil:
		return fmt.Errorf("data folder %s: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("data folder %s is not a directory", dir)
	case st.Mode().Perm()&0o700 != 0o700:
		// Checked on the mode bits, not by trying: root would get through a 0000 folder and
		// then leave files a service user cannot read.
		return fmt.Errorf("data folder %s is not readable and writable by its owner (mode %04o): fix it with chmod 700 %s",
			dir, st.Mode().Perm(), dir)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("data folder %s is not writable: %w", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// Initialized is what Init found or made.
type Initialized struct {
	CA        *pki.CA
	CreatedCA bool // this call created the CA
}

// Init prepares the data folder, the appliance CA and the public server certificate. It is
// idempotent and never overwrites a key: an existing CA is loaded, an existing valid server
// certificate is kept, and a corrupt file is an error naming it.
func Init(cfg config.Config) (Initialized, error) {
	var out Initialized
	if err := PrepareData(cfg.Data); err != nil {
		return out, err
	}
	_, statErr := os.Stat(filepath.Join(cfg.Data, pki.CAKeyFile))
	ca, err := pki.LoadOrCreateCA(cfg.Data)
	if err != nil {
		return out, fmt.Errorf("certificate authority: %w", err)
	}
	out.CA, out.CreatedCA = ca, errors.Is(statErr, fs.ErrNotExist)
	certPath, keyPath := filepath.Join(cfg.Data, pki.ServerCertFile), filepath.Join(cfg.Data, pki.ServerKeyFile)
	if _, err := ca.EnsureServerCert(certPath, keyPath, certs.ServerNames(cfg.TLS), 30*24*time.Hour); err != nil {
		return out, fmt.Errorf("server certificate: %w", err)
	}
	return out, nil
}

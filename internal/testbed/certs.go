package testbed

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// keyPair is a certificate with its private key, both PEM encoded.
type keyPair struct {
	CertPEM, KeyPEM []byte
	cert            *x509.Certificate
	key             crypto.Signer
}

// certificates is the throwaway PKI of one bed, made fresh for every run.
type certificates struct {
	CA        keyPair
	APIServer keyPair // serving cert of kube-apiserver
	Kwok      keyPair // serving cert of kwok (the fake kubelet)
	Admin     keyPair // client cert in group system:masters
	NoRights  keyPair // client cert of a user that RBAC grants nothing
	Kubelet   keyPair // client cert the apiserver uses towards kwok (system:masters)
	SAKeyPEM  []byte  // service account signing key
	SAPubPEM  []byte
}

// noRightsUser is the user name in the no-rights client certificate.
const noRightsUser = "picluster-norights"

// newCertificates makes a CA and every certificate the bed needs.
func newCertificates() (*certificates, error) {
	ca, err := newKeyPair(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "picluster-testbed-ca"},
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("make CA: %w", err)
	}
	c := &certificates{CA: *ca}
	loopback := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	specs := []struct {
		into *keyPair
		tmpl *x509.Certificate
	}{
		{&c.APIServer, serverTemplate("kube-apiserver", append(loopback, net.IPv4(10, 0, 0, 1)),
			"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local")},
		{&c.Kwok, serverTemplate("kwok", loopback, "localhost")},
		{&c.Admin, clientTemplate("picluster-admin", "system:masters")},
		{&c.NoRights, clientTemplate(noRightsUser)},
		{&c.Kubelet, clientTemplate("kube-apiserver-kubelet-client", "system:masters")},
	}
	for _, s := range specs {
		kp, err := newKeyPair(s.tmpl, ca)
		if err != nil {
			return nil, fmt.Errorf("make certificate %s: %w", s.tmpl.Subject.CommonName, err)
		}
		*s.into = *kp
	}
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make service account key: %w", err)
	}
	if c.SAKeyPEM, err = encodeKey(sa); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode service account public key: %w", err)
	}
	c.SAPubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	return c, nil
}

func serverTemplate(cn string, ips []net.IP, dns ...string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ips,
		DNSNames:    dns,
	}
}

func clientTemplate(cn string, groups ...string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: groups},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// newKeyPair signs tmpl with parent, or self-signs it when parent is nil.
func newKeyPair(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("generate serial: %w", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(7 * 24 * time.Hour)
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &keyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  keyPEM,
		cert:    cert,
		key:     key,
	}, nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// writeFiles writes the PKI to dir and returns the paths by name (e.g. "ca.crt").
func (c *certificates) writeFiles(dir string) (map[string]string, error) {
	files := map[string][]byte{
		"ca.crt":             c.CA.CertPEM,
		"apiserver.crt":      c.APIServer.CertPEM,
		"apiserver.key":      c.APIServer.KeyPEM,
		"kwok.crt":           c.Kwok.CertPEM,
		"kwok.key":           c.Kwok.KeyPEM,
		"kubelet-client.crt": c.Kubelet.CertPEM,
		"kubelet-client.key": c.Kubelet.KeyPEM,
		"sa.key":             c.SAKeyPEM,
		"sa.pub":             c.SAPubPEM,
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make certificate dir: %w", err)
	}
	paths := make(map[string]string, len(files))
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
		paths[name] = p
	}
	return paths, nil
}

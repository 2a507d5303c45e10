package transport

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"time"

	"lethe/crypto"
)

// TLS of a link (spec §11.1): TLS 1.3 only, the hybrid post-quantum key exchange
// X25519MLKEM768 only, and both sides presenting a self-signed certificate for their Ed25519
// node identity. Nobody's certificate authority is involved: the client checks that the
// server's key is the node ID of the noderef it dialled, the server learns the client's ID
// from its certificate and checks it against the noderef in the client's Hello. TLS 1.3's
// CertificateVerify proves each side holds the private key of the certificate it shows.

// keyExchange is the only key exchange a link accepts.
const keyExchange = tls.X25519MLKEM768

// selfSignedCertificate makes the certificate a node presents. It carries no name and no
// meaningful dates: peers check only the key, and TLS 1.3 encrypts it from observers.
func selfSignedCertificate(id *crypto.NodeIdentity, rand io.Reader) (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	priv := id.PrivateKey()
	der, err := x509.CreateCertificate(rand, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("make link certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}

// baseTLSConfig is what both sides share.
func baseTLSConfig(cert tls.Certificate, rand io.Reader) *tls.Config {
	return &tls.Config{
		Rand:             rand,
		MinVersion:       tls.VersionTLS13,
		MaxVersion:       tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{keyExchange},
		Certificates:     []tls.Certificate{cert},
		// Every link does a full handshake with a fresh key exchange and both certificates;
		// resumption would skip the certificates this design rests on.
		SessionTicketsDisabled: true,
		// Write records as large as the frames they carry from the start.
		DynamicRecordSizingDisabled: true,
	}
}

// clientTLSConfig dials a node expected to be want. InsecureSkipVerify turns off only the
// certificate-authority check, which has no meaning here; VerifyConnection does the check
// that does: the server's key is want. No server name is sent.
func clientTLSConfig(cert tls.Certificate, rand io.Reader, want crypto.NodeID) *tls.Config {
	c := baseTLSConfig(cert, rand)
	c.InsecureSkipVerify = true
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		got, err := peerIdentity(cs)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%w: dialled %v, the server is %v", ErrIdentityMismatch, want.Short(), got.Short())
		}
		return nil
	}
	return c
}

// serverTLSConfig accepts any client that proves an Ed25519 identity; who it is and whether
// it is welcome is decided after the Hello.
func serverTLSConfig(cert tls.Certificate, rand io.Reader) *tls.Config {
	c := baseTLSConfig(cert, rand)
	c.ClientAuth = tls.RequireAnyClientCert
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		_, err := peerIdentity(cs)
		return err
	}
	return c
}

// peerIdentity checks the parameters of an established TLS connection and returns the node
// ID its peer proved: TLS 1.3, X25519MLKEM768, and exactly one certificate with an Ed25519
// key.
func peerIdentity(cs tls.ConnectionState) (crypto.NodeID, error) {
	if cs.Version != tls.VersionTLS13 || cs.CurveID != keyExchange {
		return crypto.NodeID{}, fmt.Errorf("%w: got version %#x, key exchange %v", ErrKeyExchange, cs.Version, cs.CurveID)
	}
	if len(cs.PeerCertificates) != 1 {
		return crypto.NodeID{}, fmt.Errorf("%w: %d certificates, want 1", ErrIdentityMismatch, len(cs.PeerCertificates))
	}
	pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return crypto.NodeID{}, fmt.Errorf("%w: certificate key is %T, want Ed25519", ErrIdentityMismatch, cs.PeerCertificates[0].PublicKey)
	}
	return crypto.NodeID(pub), nil
}

package crypto

// Derivation and domain-separation labels (docs/spec.md §2). Each carries the format version,
// so that a future change of algorithm gives unrelated keys rather than colliding ones. They
// are spec constants: changing one changes every key and block Lethe produces.
const (
	labelCHKConvergent = "lethe/v1/chk-convergent-key"
	labelCHKCipher     = "lethe/v1/chk-cipher-key"

	labelSSKEd25519    = "lethe/v1/ssk-ed25519-seed"
	labelSSKMLDSA      = "lethe/v1/ssk-mldsa65-seed"
	labelSSKPublicKey  = "lethe/v1/ssk-public-key"
	labelSSKDocName    = "lethe/v1/ssk-docname"
	labelSSKRoutingKey = "lethe/v1/ssk-routing-key"
	labelSSKCipher     = "lethe/v1/ssk-cipher-key"
	labelSSKNonce      = "lethe/v1/ssk-nonce"
	labelSSKSignature  = "lethe/v1/ssk-signature"

	labelKSKSeed      = "lethe/v1/ksk-seed"
	labelKSKCryptoKey = "lethe/v1/ksk-crypto-key"

	labelNodeRef = "lethe/v1/noderef"

	// Tunnels (§18.11): what an attestation's signature signs, the HPKE info of a hop's key
	// exchange, and the export contexts of its four keys.
	labelTunnelAttestation   = "lethe/v1/tunnel-attestation"
	labelTunnelHop           = "lethe/v1/tunnel-hop"
	labelTunnelForwardLayer  = "lethe/v1/tunnel-forward-layer"
	labelTunnelBackwardLayer = "lethe/v1/tunnel-backward-layer"
	labelTunnelForwardEnd    = "lethe/v1/tunnel-forward-end"
	labelTunnelBackwardEnd   = "lethe/v1/tunnel-backward-end"
)

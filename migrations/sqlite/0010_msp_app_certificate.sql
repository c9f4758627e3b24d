-- The MSP app authenticates with a client secret or a certificate (issue 12). Which one is
-- named here; the secret or the certificate's PEM (private key included) is sealed in
-- `secrets` (scope msp_app, name client_secret or client_certificate), never both. The
-- certificate's SHA-1 thumbprint (as the Entra admin center shows it) and its notAfter (Unix
-- ms) are kept beside it so the API can show them without unsealing the key.
ALTER TABLE msp_app ADD COLUMN credential TEXT NOT NULL DEFAULT 'secret'
    CHECK (credential IN ('secret', 'certificate'));
ALTER TABLE msp_app ADD COLUMN certificate_thumbprint TEXT;
ALTER TABLE msp_app ADD COLUMN certificate_not_after BIGINT;

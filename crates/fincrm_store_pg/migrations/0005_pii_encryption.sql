-- Personal information encrypted at rest (issue #3; SECURITY.md §2.1 R5, crate fincrm_crypto).
--
-- Expand only: the C2 columns of customer get a sealed twin, and the two searched ones a keyed
-- blind index. When fincrm runs with a keyring (FINCRM_KEY_FILE / FINCRM_KEYS) it writes the
-- *_enc and *_bidx columns and leaves the plaintext columns NULL; without one it writes the
-- plaintext columns as before. `fincrm keys rotate` re-encrypts under the active key and seals
-- plaintext left from before keys were configured. Dropping the plaintext columns is a later
-- contract step.
--
-- *_enc:  `v1:<key id>:<base64(nonce || ciphertext || tag)>`, AES-256-GCM, the field name
--         (`customer.id_number`, …) as associated data.                         (PI, C2, sealed)
-- *_bidx: lowercase hex of HMAC-SHA256(index key, field || 0x1F || canonical value), 16 bytes:
--         equality only (exact lookup, duplicate detection).                   (derived from C2)
--
-- Not encrypted: holding.holding_id (account numbers are primary keys joined everywhere;
-- tokenisation is the later fix, docs/KEYS.md).

ALTER TABLE customer ADD COLUMN id_number_enc TEXT;
ALTER TABLE customer ADD COLUMN id_number_bidx TEXT;
ALTER TABLE customer ADD COLUMN phone_enc TEXT;
ALTER TABLE customer ADD COLUMN phone_bidx TEXT;
ALTER TABLE customer ADD COLUMN email_enc TEXT;
ALTER TABLE customer ADD COLUMN address_enc TEXT;

CREATE INDEX customer_id_number_bidx_idx ON customer (id_number_bidx) WHERE id_number_bidx IS NOT NULL;
CREATE INDEX customer_phone_bidx_idx ON customer (phone_bidx) WHERE phone_bidx IS NOT NULL;

-- What the views take from the policy in force, so they never spell a threshold: the levels
-- lowest first, the lowest that counts as senior, the levels that do, and the default
-- lookback (CONTRACT §4). One row. `provledger serve` writes it from the policy file when it
-- starts and whenever the file changes (query/policy/record.py); until then it holds the
-- contract's defaults, the values of query/policy/definitions.py (a unit test keeps the two
-- equal). Documented in ledger/SCHEMA.md under "Policy definitions".
CREATE TABLE IF NOT EXISTS policy_definitions (
    levels VARCHAR[] NOT NULL,
    senior_at_least VARCHAR NOT NULL,
    senior_levels VARCHAR[] NOT NULL,
    default_lookback INTERVAL NOT NULL,
    policy_file VARCHAR  -- the file PROVLEDGER_POLICY named; NULL: the packaged policy
);

INSERT INTO policy_definitions
SELECT ['junior', 'mid', 'senior', 'principal'], 'senior', ['senior', 'principal'],
       INTERVAL 24 HOUR, NULL
WHERE NOT EXISTS (SELECT 1 FROM policy_definitions);

-- Reconciliations of deposit addresses against their chain (`walletflow reconcile`, and the
-- `deposits-{chain}` Schedule). Differences are recorded and reported, never fixed here.
CREATE TABLE reconcile_runs (
    run_id       text PRIMARY KEY,
    chain        text NOT NULL,
    checked      integer NOT NULL,   -- (address, asset) pairs compared
    in_flight    integer NOT NULL,   -- pairs skipped: a sweep of them is not decided yet
    differences  integer NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reconcile_differences (
    run_id      text NOT NULL REFERENCES reconcile_runs (run_id),
    chain       text NOT NULL,
    address     text NOT NULL,
    customer    text NOT NULL,
    asset       text NOT NULL,
    symbol      text NOT NULL,
    decimals    integer NOT NULL,
    expected    numeric(78, 0) NOT NULL,  -- credits no confirmed sweep moved
    actual      numeric(78, 0) NOT NULL,  -- what the chain holds
    PRIMARY KEY (run_id, address, asset)
);

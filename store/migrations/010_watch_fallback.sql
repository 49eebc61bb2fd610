-- A watch's other providers for the same asset ({provider: price id}): when its own provider
-- fails or has no fresh price, the price-watch loop asks these (failover).
ALTER TABLE price_watches ADD COLUMN fallback jsonb NOT NULL DEFAULT '{}'::jsonb;

-- 0005 smaller rows: indexes no query reads. Measured on `make bench-scale`'s realistic base
-- (BENCHMARKS.md "Scale"), each cost bytes on every contact and a write on every signup, while
-- EXPLAIN QUERY PLAN of every statement in src/store (and of the segment rules' SQL, whose
-- consent and attribute tests are correlated EXISTS on each contact) never picks them: those
-- lookups go by the tables' primary keys, (contact_id, purpose) and (contact_id, key).
DROP INDEX IF EXISTS consents_purpose_granted;      -- ~90 bytes per contact
DROP INDEX IF EXISTS contact_attributes_key_value;  -- ~60 bytes per contact (two attributes)

-- Order lines live in `orders.items` (JSON; segment rules read them with json_each): this
-- table was never written, and its two indexes never read.
DROP INDEX IF EXISTS order_items_category;
DROP INDEX IF EXISTS order_items_sku;
DROP TABLE IF EXISTS order_items;

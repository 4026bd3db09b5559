-- The chapter-5 e-commerce store that every app in this repository serves.
-- Idempotent: running it again changes nothing.

CREATE TABLE IF NOT EXISTS brand (
    brand_id   SERIAL PRIMARY KEY,
    brand_name TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS product (
    product_id   SERIAL PRIMARY KEY,
    product_name TEXT NOT NULL,
    brand_id     INT NOT NULL REFERENCES brand (brand_id)
);

CREATE TABLE IF NOT EXISTS product_color (
    product_color_id   SERIAL PRIMARY KEY,
    product_color_name TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS product_size (
    product_size_id   SERIAL PRIMARY KEY,
    product_size_name TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS sku (
    sku_id           SERIAL PRIMARY KEY,
    product_id       INT NOT NULL REFERENCES product (product_id),
    product_size_id  INT NOT NULL REFERENCES product_size (product_size_id),
    product_color_id INT NOT NULL REFERENCES product_color (product_color_id)
);

-- Postgres indexes primary keys but not foreign keys. A store looks up the
-- products of a brand and the SKUs of a product all the time, and deleting a
-- brand or product has to find its referencing rows: index every FK column.
CREATE INDEX IF NOT EXISTS product_brand_id_idx ON product (brand_id);
CREATE INDEX IF NOT EXISTS sku_product_id_idx ON sku (product_id);
CREATE INDEX IF NOT EXISTS sku_product_size_id_idx ON sku (product_size_id);
CREATE INDEX IF NOT EXISTS sku_product_color_id_idx ON sku (product_color_id);

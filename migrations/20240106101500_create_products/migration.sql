CREATE TYPE "product_status" AS ENUM ('draft', 'active', 'retired');

CREATE TABLE "products" (
    "id" BIGSERIAL PRIMARY KEY,
    "sku" VARCHAR(32) NOT NULL UNIQUE,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "price_cents" INTEGER NOT NULL CHECK ("price_cents" >= 0),
    "status" "product_status" NOT NULL DEFAULT 'draft',
    "attributes" JSONB NOT NULL DEFAULT '{}'::jsonb,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT now()
);

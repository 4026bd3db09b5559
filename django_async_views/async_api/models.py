"""Unmanaged models over the shared products tables, for the REST API on Django's async ORM."""

from django.db import models


class Brand(models.Model):
    # managed = False: products_db/schema.py owns these tables (every framework
    # shares them), so Django never creates, alters or migrates them.
    brand_id = models.AutoField(primary_key=True)
    brand_name = models.TextField()

    class Meta:
        managed = False
        db_table = "brand"

    def __str__(self) -> str:
        return self.brand_name


class Product(models.Model):
    product_id = models.AutoField(primary_key=True)
    product_name = models.TextField()
    # db_column keeps the column name the SQL schema uses; product.brand_id is the
    # raw id, product.brand would be a second query (avoided in every view).
    brand = models.ForeignKey(Brand, on_delete=models.DO_NOTHING, db_column="brand_id")

    class Meta:
        managed = False
        db_table = "product"

    def __str__(self) -> str:
        return self.product_name

"""Moving catalogs in and out of pixlens: ``pixlens import dynamodb`` reads a table that the original AWS pipeline
(S3 -> Lambda -> Rekognition DetectLabels -> DynamoDB keyed by ``ImageName``) wrote; ``pixlens export`` writes any
catalog out as JSON lines or as DynamoDB JSON (docs/MIGRATION.md).

- ``typed.py``: DynamoDB's typed attribute values (``{"S": ...}``, ``{"N": "97.1"}``), both ways.
- ``legacy_labels.py``: one item of the original table -> the image's name and its labels, in every shape that
  people's Lambda functions write, or the reason it cannot be read.
- ``dynamodb_import.py``: a paginated (optionally parallel) Scan of the table into a catalog.
- ``export.py``: every record of a catalog, streamed, as JSON lines or DynamoDB JSON.
"""

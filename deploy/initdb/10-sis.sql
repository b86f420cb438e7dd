-- A second database on the stack's PostgreSQL for the SIS (schema `sis`, SPEC §3.1).
-- Dagster's storage keeps the `dagster` database the image creates.
CREATE DATABASE sis;

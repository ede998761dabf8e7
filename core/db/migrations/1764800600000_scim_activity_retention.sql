-- Up Migration

-- scim_activity_flush deleted every bucket older than 7 days on each flush, whatever retention the
-- operator set (RETENTION_SCIM_ACTIVITY_DAYS, pruned by the maintenance schedule since 1764800201000):
-- a longer retention was silently cut to a week, and the two cleanups raced. Buckets are now the
-- maintenance schedule's alone; the flush keeps only its bound on recorded errors per connection.
CREATE OR REPLACE FUNCTION scim_activity_flush(p_counts jsonb, p_errors jsonb) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  WITH x AS (
    SELECT x.tenant, x.connection, date_trunc('minute', x.bucket) AS bucket, x.requests, least(x.errors, x.requests) AS errors, x.last
      FROM jsonb_to_recordset(coalesce(p_counts, '[]')) AS x(tenant uuid, connection uuid, bucket timestamptz,
                                                            requests integer, errors integer, last timestamptz)
      JOIN scim_connections c ON c.id = x.connection AND c.tenant_id = x.tenant
     WHERE x.requests > 0),
  buckets AS (
    INSERT INTO scim_activity_buckets AS b (tenant_id, connection_id, bucket, requests, errors)
    SELECT tenant, connection, bucket, sum(requests), sum(errors) FROM x GROUP BY tenant, connection, bucket
    ON CONFLICT (tenant_id, connection_id, bucket)
    DO UPDATE SET requests = b.requests + excluded.requests, errors = b.errors + excluded.errors)
  INSERT INTO scim_connection_activity AS a (tenant_id, connection_id, last_request_at, last_error_at, requests, errors)
  SELECT tenant, connection, max(last), max(last) FILTER (WHERE errors > 0), sum(requests), sum(errors)
    FROM x GROUP BY tenant, connection
  ON CONFLICT (tenant_id, connection_id)
  DO UPDATE SET last_request_at = greatest(a.last_request_at, excluded.last_request_at),
                last_error_at = greatest(a.last_error_at, excluded.last_error_at),
                requests = a.requests + excluded.requests,
                errors = a.errors + excluded.errors;

  INSERT INTO scim_request_errors (tenant_id, connection_id, occurred_at, method, path, status, scim_type, detail)
  SELECT x.tenant, x.connection, x.at, left(x.method, 16), left(x.path, 300), x.status, left(x."scimType", 64), left(x.detail, 500)
    FROM jsonb_to_recordset(coalesce(p_errors, '[]')) AS x(tenant uuid, connection uuid, at timestamptz, method text,
                                                          path text, status integer, "scimType" text, detail text)
    JOIN scim_connections c ON c.id = x.connection AND c.tenant_id = x.tenant
   ORDER BY x.at;

  -- Bounded: the last 50 errors of each connection that just had some. Old buckets are the
  -- maintenance schedule's (prune_expired 'scim_activity', RETENTION_SCIM_ACTIVITY_DAYS).
  DELETE FROM scim_request_errors e
   USING (SELECT DISTINCT x.tenant, x.connection
            FROM jsonb_to_recordset(coalesce(p_errors, '[]')) AS x(tenant uuid, connection uuid)) f
   WHERE e.tenant_id = f.tenant AND e.connection_id = f.connection
     AND e.id < (SELECT k.id FROM scim_request_errors k
                  WHERE k.tenant_id = f.tenant AND k.connection_id = f.connection
                  ORDER BY k.id DESC OFFSET 49 LIMIT 1);

$$;

-- Down Migration
CREATE OR REPLACE FUNCTION scim_activity_flush(p_counts jsonb, p_errors jsonb) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  WITH x AS (
    SELECT x.tenant, x.connection, date_trunc('minute', x.bucket) AS bucket, x.requests, least(x.errors, x.requests) AS errors, x.last
      FROM jsonb_to_recordset(coalesce(p_counts, '[]')) AS x(tenant uuid, connection uuid, bucket timestamptz,
                                                            requests integer, errors integer, last timestamptz)
      JOIN scim_connections c ON c.id = x.connection AND c.tenant_id = x.tenant
     WHERE x.requests > 0),
  buckets AS (
    INSERT INTO scim_activity_buckets AS b (tenant_id, connection_id, bucket, requests, errors)
    SELECT tenant, connection, bucket, sum(requests), sum(errors) FROM x GROUP BY tenant, connection, bucket
    ON CONFLICT (tenant_id, connection_id, bucket)
    DO UPDATE SET requests = b.requests + excluded.requests, errors = b.errors + excluded.errors)
  INSERT INTO scim_connection_activity AS a (tenant_id, connection_id, last_request_at, last_error_at, requests, errors)
  SELECT tenant, connection, max(last), max(last) FILTER (WHERE errors > 0), sum(requests), sum(errors)
    FROM x GROUP BY tenant, connection
  ON CONFLICT (tenant_id, connection_id)
  DO UPDATE SET last_request_at = greatest(a.last_request_at, excluded.last_request_at),
                last_error_at = greatest(a.last_error_at, excluded.last_error_at),
                requests = a.requests + excluded.requests,
                errors = a.errors + excluded.errors;

  INSERT INTO scim_request_errors (tenant_id, connection_id, occurred_at, method, path, status, scim_type, detail)
  SELECT x.tenant, x.connection, x.at, left(x.method, 16), left(x.path, 300), x.status, left(x."scimType", 64), left(x.detail, 500)
    FROM jsonb_to_recordset(coalesce(p_errors, '[]')) AS x(tenant uuid, connection uuid, at timestamptz, method text,
                                                          path text, status integer, "scimType" text, detail text)
    JOIN scim_connections c ON c.id = x.connection AND c.tenant_id = x.tenant
   ORDER BY x.at;

  -- Bounded: the last 50 errors of each connection that just had some, and a week of buckets.
  DELETE FROM scim_request_errors e
   USING (SELECT DISTINCT x.tenant, x.connection
            FROM jsonb_to_recordset(coalesce(p_errors, '[]')) AS x(tenant uuid, connection uuid)) f
   WHERE e.tenant_id = f.tenant AND e.connection_id = f.connection
     AND e.id < (SELECT k.id FROM scim_request_errors k
                  WHERE k.tenant_id = f.tenant AND k.connection_id = f.connection
                  ORDER BY k.id DESC OFFSET 49 LIMIT 1);

  DELETE FROM scim_activity_buckets WHERE bucket < now() - interval '7 days';
$$;

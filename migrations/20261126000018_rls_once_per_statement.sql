-- Row-level security at the cost of one comparison per row. Written as `user_id = app_user_id()`,
-- a policy read the setting and parsed it as a uuid on every row it checked (PostgreSQL does not
-- fold a STABLE call into a constant); the span benchmark's profile had uuid_in and strtoull among
-- PostgreSQL's top entries, and a 5,000-span scan took 4.2 ms instead of 0.9 ms. As a sub-select
-- each function runs once per statement (an InitPlan), and `user_id = $0` still drives an index.
-- Who may see what is unchanged.
DO $$
DECLARE
    owned text[] := ARRAY['agent_runs', 'agent_run_events', 'agent_run_spans', 'agent_run_traces',
                          'agent_jobs', 'run_rollup_hourly', 'daily_reports', 'idempotency_keys'];
    admin_only text[] := ARRAY['job_runs', 'health_samples', 'alerts_sent'];
    t text;
BEGIN
    FOREACH t IN ARRAY owned LOOP
        EXECUTE format('ALTER POLICY %I ON %I
                            USING (user_id = (SELECT app_user_id()) OR (SELECT app_is_admin()))
                            WITH CHECK (user_id = (SELECT app_user_id()) OR (SELECT app_is_admin()))',
                       t || '_owner', t);
    END LOOP;
    FOREACH t IN ARRAY admin_only LOOP
        EXECUTE format('ALTER POLICY %I ON %I
                            USING ((SELECT app_is_admin())) WITH CHECK ((SELECT app_is_admin()))',
                       t || '_admin', t);
    END LOOP;
END
$$;

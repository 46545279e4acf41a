-- A runner that stopped heart-beating is declared dead by a live one, which hands the dead
-- runner's locked jobs back to the queue. The row stays (for `bulkrun status`) with when that
-- happened and who did it; dead_at is null while the runner is alive.
alter table bulkrun_private.runners
  add column dead_at timestamptz,
  add column recovered_by text;
comment on column bulkrun_private.runners.dead_at is
  'When a live runner found this one had missed its beats and released its jobs; null while alive.';
comment on column bulkrun_private.runners.recovered_by is 'The runner that released this one''s jobs.';

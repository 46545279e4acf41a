-- Ledger retention: the per-row ledger and the chunks of actions that finished long ago are
-- removed (`bulkrun prune`, and every runner on a timer), in small batches. The action row stays,
-- with its counters, so status, history and the API keep working; these columns say what is left
-- of its ledger, so that reading or retrying it says "pruned" instead of finding nothing.

alter table bulkrun.bulk_actions
  add column ledger_state text not null default 'complete' check (ledger_state in
    ('complete', 'pruning', 'pruning_keep_failed', 'failed_only', 'pruned')),
  add column ledger_pruned_at timestamptz;
comment on column bulkrun.bulk_actions.ledger_state is
  'What is left of the per-row ledger: complete, failed_only (retention kept the failed rows) or pruned (no rows); pruning or pruning_keep_failed while its rows are being removed.';
comment on column bulkrun.bulk_actions.ledger_pruned_at is
  'When retention last began removing rows of this action''s ledger; null while its ledger is complete.';

-- Retention does not change the action itself: its updated_at stays (the dashboard lists the
-- actions changed last, and pruning a thousand old ones must not put them first).
drop trigger bulk_actions_touch on bulkrun.bulk_actions;
create trigger bulk_actions_touch before update on bulkrun.bulk_actions
  for each row when (old.ledger_state is not distinct from new.ledger_state and old.ledger_pruned_at is not distinct from new.ledger_pruned_at)
  execute function bulkrun_private.touch_updated_at();

-- A follow-up copies rows from its parent's ledger when it is prepared: a parent with an unfinished
-- follow-up is never pruned, and finding them must not scan every action.
create index bulk_actions_parent_idx on bulkrun.bulk_actions (parent_id) where parent_id is not null;

-- As before, and: the parent's row is locked (for share) while its ledger is checked and the child
-- inserted, so a prune starting on it waits for this to commit and then sees the child, and a
-- follow-up of a pruned ledger is refused (BR410) instead of starting with too few rows.
create or replace function bulkrun_private.follow_up(p_parent_id bigint, p_rows text) returns bulkrun.bulk_actions
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  parent bulkrun.bulk_actions;
  child bulkrun.bulk_actions;
begin
  select * into parent from bulkrun.bulk_actions a where a.id = p_parent_id for share;
  if not found then
    raise exception 'bulk action % does not exist', p_parent_id using errcode = 'BR404';
  end if;
  if parent.status not in ('completed', 'failed', 'cancelled') then
    raise exception 'bulk action % is %; wait until it has finished', p_parent_id, parent.status using errcode = 'BR409';
  end if;
  if p_rows = 'all' and not (parent.dry_run and parent.status = 'completed') then
    raise exception 'bulk action % is not a completed dry run', p_parent_id using errcode = 'BR409';
  end if;
  if parent.ledger_state <> 'complete' and (p_rows = 'all' or parent.ledger_state not in ('pruning_keep_failed', 'failed_only')) then
    raise exception 'the ledger of bulk action % was pruned by ledger retention at %: %; its counts remain',
      p_parent_id, bulkrun_private.iso_utc(parent.ledger_pruned_at),
      case when p_rows = 'all' then 'the plan to apply is gone' else 'its failed rows are gone' end
      using errcode = 'BR410';
  end if;
  if p_rows = 'failed' and not exists (select 1 from bulkrun.bulk_action_items i
      where i.action_id = p_parent_id and i.status = 'failed' and i.outcome is distinct from 'invalid') then
    raise exception 'bulk action % has no failed rows to retry (rows that were invalid need a corrected file)', p_parent_id
      using errcode = 'BR409';
  end if;
  insert into bulkrun.bulk_actions (account_id, type, options, source, chunk_size, priority, parent_id)
  values (parent.account_id, parent.type, parent.options,
          jsonb_build_object('kind', 'copy', 'from', p_parent_id, 'rows', p_rows),
          parent.chunk_size, parent.priority, p_parent_id)
  returning * into child;
  return child;
end $$;

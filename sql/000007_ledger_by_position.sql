-- Chunks are ranges of row numbers instead of ranges of hash buckets. Rows are staged in source
-- order, so a chunk now reads and writes one contiguous stretch of the ledger, where a hash range
-- touched pages all over it; duplicates of a key, which the hash used to gather in one chunk, are
-- decided once for the whole action when it is prepared.
--
-- Chunks planned before this migration describe hash ranges, so it refuses to run while any
-- chunk waits to be applied.
do $$
begin
  if exists (select 1 from bulkrun.bulk_action_chunks where status = 'pending') then
    raise exception 'bulkrun cannot upgrade the ledger while chunks are pending: let running actions finish (or cancel them), then run bulkrun migrate again';
  end if;
end $$;

alter table bulkrun.bulk_action_items drop constraint bulk_action_items_pkey;
alter table bulkrun.bulk_action_items drop column bucket;
alter table bulkrun.bulk_action_items add primary key (action_id, row_number);

alter table bulkrun.bulk_action_chunks rename column bucket_from to row_from;
alter table bulkrun.bulk_action_chunks rename column bucket_to to row_to;
comment on table bulkrun.bulk_action_chunks is 'A range of one action''s rows (by row number), applied in one transaction.';

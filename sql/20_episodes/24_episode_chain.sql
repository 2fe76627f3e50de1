-- E4: per beneficiary and cohort, episodes do not overlap: start from the earliest candidate trigger,
-- then repeatedly jump to the first candidate whose trigger date is after the current episode's end
-- (links from 23). HF and LBP chains are independent. The recursion depth is the largest number of
-- episodes one beneficiary has in one cohort, so this scales with beneficiaries, not lines.
WITH RECURSIVE chain(bene_id, cohort, trigger_date, next_trigger_date, episode_seq) AS (
    SELECT bene_id, cohort, trigger_date, next_trigger_date, 1
    FROM trigger_links
    WHERE is_first
    UNION ALL
    SELECT l.bene_id, l.cohort, l.trigger_date, l.next_trigger_date, ch.episode_seq + 1
    FROM chain AS ch
    JOIN trigger_links AS l
      ON l.bene_id = ch.bene_id AND l.cohort = ch.cohort AND l.trigger_date = ch.next_trigger_date
     AND l.trigger_date > ch.trigger_date  -- guard: dates strictly increase, so the recursion ends
)
SELECT l.* EXCLUDE (next_trigger_date, is_first), ch.episode_seq
FROM chain AS ch
JOIN trigger_links AS l
  ON l.bene_id = ch.bene_id AND l.cohort = ch.cohort AND l.trigger_date = ch.trigger_date

-- Reserved for another branch's migration (issue 30's 0010 follows it): this stand-in does
-- nothing and goes when that migration is merged.
SELECT 1;

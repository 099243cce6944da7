package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mlservice/mlservice"
)

// ruleFlags adds train's -metric and -min-delta, which default to
// PROMOTE_METRIC and PROMOTE_MIN_DELTA. The returned function, called after
// parsing, gives the rule, or a usage error naming the flag or the
// variable the bad value came from.
func ruleFlags(fs *command, getenv func(string) string) func() (mlservice.PromotionRule, error) {
	metrics := strings.Join(mlservice.PromotionMetrics(), ", ")
	metric := fs.String("metric", strings.TrimSpace(getenv("PROMOTE_METRIC")),
		fmt.Sprintf("promotion `METRIC` compared with the current version's on the same rows: %s; log_loss is lower-better, the others higher-better (env PROMOTE_METRIC; default f1)", metrics))
	delta := fs.String("min-delta", strings.TrimSpace(getenv("PROMOTE_MIN_DELTA")),
		"promote only when the candidate beats the current version by more than `D` (0 or more; a gain within 1e-12 of D counts as equal) (env PROMOTE_MIN_DELTA; default 0: strictly better, a tie is rejected)")
	return func() (mlservice.PromotionRule, error) {
		source := flagSource(fs)
		var r mlservice.PromotionRule
		if *metric != "" {
			r.Metric = strings.ToLower(*metric)
			if !slices.Contains(mlservice.PromotionMetrics(), r.Metric) {
				return r, fsUsagef(fs, "%s is not a promotion metric: use one of %s", source("metric", "PROMOTE_METRIC", *metric), metrics)
			}
		} else {
			r.Metric = mlservice.MetricF1
		}
		if *delta != "" {
			d, err := strconv.ParseFloat(*delta, 64)
			if err != nil || math.IsNaN(d) || math.IsInf(d, 0) || d < 0 {
				return r, fsUsagef(fs, "%s is not a min delta: use a number zero or above, such as 0.01", source("min-delta", "PROMOTE_MIN_DELTA", *delta))
			}
			r.MinDelta = d
		}
		return r, nil
	}
}

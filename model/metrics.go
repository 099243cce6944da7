package model

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/integrate"
	"gonum.org/v1/gonum/stat"
)

// Metrics scores probabilities against true labels, with class 1 as the
// positive class and 0.5 as the threshold. Ratios that would divide by zero
// are 0, as scikit-learn reports them with zero_division=0.
type Metrics struct {
	F1        float64 `json:"f1"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	Accuracy  float64 `json:"accuracy"`
	// ROCAUC is the area under the ROC curve; NaN when only one class is
	// present, where it is undefined.
	ROCAUC float64 `json:"roc_auc"`
	// PRAUC is the area under the precision-recall curve as scikit-learn's
	// average_precision_score computes it: the sum over the distinct
	// scores, highest first, of the precision at that cutoff times the
	// recall gained there (no interpolation). NaN when no row is positive.
	// Versions trained before it was added record 0, which it never is
	// when a row is positive.
	PRAUC   float64 `json:"pr_auc"`
	LogLoss float64 `json:"log_loss"`
	// Confusion is [[TN, FP], [FN, TP]]: rows are true classes, columns
	// predicted ones, scikit-learn's confusion_matrix layout.
	Confusion [2][2]int `json:"confusion_matrix"`
	Rows      int       `json:"rows"`
}

// Evaluate computes Metrics for labels y (0 or 1) and probabilities p of
// class 1, over the selected rows (nil: all). A probability above 0.5
// predicts class 1.
func Evaluate(y []uint8, p []float64, rows []bool) (Metrics, error) {
	if len(y) != len(p) {
		return Metrics{}, fmt.Errorf("%d labels for %d probabilities", len(y), len(p))
	}
	if rows != nil && len(rows) != len(y) {
		return Metrics{}, fmt.Errorf("rows mask has %d entries for %d rows", len(rows), len(y))
	}
	var m Metrics
	// log loss clips like scikit-learn (eps = float64 machine epsilon).
	const eps = 0x1p-52
	scores := make([]float64, 0, len(p))
	classes := make([]bool, 0, len(p))
	lossSum := 0.0
	for i, label := range y {
		if rows != nil && !rows[i] {
			continue
		}
		if label > 1 {
			return Metrics{}, fmt.Errorf("label %d at row %d is not 0 or 1", label, i)
		}
		pi := p[i]
		if math.IsNaN(pi) || pi < 0 || pi > 1 {
			return Metrics{}, fmt.Errorf("probability %v at row %d is not in [0, 1]", pi, i)
		}
		predicted := 0
		if pi > 0.5 {
			predicted = 1
		}
		m.Confusion[label][predicted]++
		c := min(max(pi, eps), 1-eps)
		if label == 1 {
			lossSum -= math.Log(c)
		} else {
			lossSum -= math.Log(1 - c)
		}
		scores = append(scores, pi)
		classes = append(classes, label == 1)
	}
	m.Rows = len(scores)
	if m.Rows == 0 {
		return Metrics{}, fmt.Errorf("no rows to evaluate")
	}
	tn, fp := float64(m.Confusion[0][0]), float64(m.Confusion[0][1])
	fn, tp := float64(m.Confusion[1][0]), float64(m.Confusion[1][1])
	m.Precision = ratio(tp, tp+fp)
	m.Recall = ratio(tp, tp+fn)
	m.F1 = ratio(2*tp, 2*tp+fp+fn)
	m.Accuracy = (tp + tn) / float64(m.Rows)
	m.LogLoss = lossSum / float64(m.Rows)
	m.ROCAUC = rocAUC(scores, classes) // sorts scores and classes
	m.PRAUC = averagePrecision(scores, classes, tp+fn)
	return m, nil
}

func ratio(num, den float64) float64 {
	if den == 0 {
		return 0
	}
	return num / den
}

// rocAUC integrates gonum's ROC curve with the trapezoidal rule, which is
// how scikit-learn's roc_auc_score treats tied scores. It sorts its inputs.
func rocAUC(scores []float64, classes []bool) float64 {
	// stat.ROC wants the scores sorted with their labels. Sorting pairs with
	// a typed comparison is three times faster than stat.SortWeightedLabeled's
	// sort.Interface on a few hundred thousand rows.
	pairs := make([]scored, len(scores))
	for i := range pairs {
		pairs[i] = scored{scores[i], classes[i]}
	}
	slices.SortFunc(pairs, func(a, b scored) int { return cmp.Compare(a.score, b.score) })
	for i, p := range pairs {
		scores[i], classes[i] = p.score, p.positive
	}
	tpr, fpr, _ := stat.ROC(nil, scores, classes, nil)
	if len(tpr) == 0 || math.IsNaN(tpr[0]) || math.IsNaN(fpr[0]) {
		return math.NaN()
	}
	// stat.ROC lists the curve from the highest cutoff down; with fpr
	// ascending it is ready for the trapezoidal rule.
	return integrate.Trapezoidal(fpr, tpr)
}

type scored struct {
	score    float64
	positive bool
}

// averagePrecision is scikit-learn's average_precision_score of scores
// sorted ascending with their classes, of which positives are positive.
// Tied scores form one cutoff, as there.
func averagePrecision(scores []float64, classes []bool, positives float64) float64 {
	if positives == 0 {
		return math.NaN()
	}
	var tp, fp, recall, ap float64
	for i := len(scores) - 1; i >= 0; {
		j := i
		for ; j >= 0 && scores[j] == scores[i]; j-- {
			if classes[j] {
				tp++
			} else {
				fp++
			}
		}
		r := tp / positives
		ap += (r - recall) * tp / (tp + fp)
		recall, i = r, j
	}
	return ap
}

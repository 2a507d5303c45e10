package sim

import (
	"math"
	"testing"
)

// TestROC checks the AUC against the Mann–Whitney statistic counted pair by pair, and the
// curve's points, on small score sets with ties.
func TestROC(t *testing.T) {
	tests := []struct {
		name     string
		pos, neg []int
		auc      float64
	}{
		{"separated", []int{3, 4}, []int{0, 1, 2}, 1},
		{"reversed", []int{0}, []int{1, 2}, 0},
		{"all tied", []int{2, 2}, []int{2, 2, 2}, 0.5},
		// pairs: 1 vs (0,1,3) → 1 + 0.5 + 0; 3 vs (0,1,3) → 1 + 1 + 0.5: 4/6
		{"ties", []int{1, 3}, []int{0, 1, 3}, 4.0 / 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newROC(4)
			for _, c := range tt.pos {
				r.add(true, c, 1)
			}
			for _, c := range tt.neg {
				r.add(false, c, 1)
			}
			if got := r.AUC(); math.Abs(got-tt.auc) > 1e-12 {
				t.Errorf("AUC = %v, want %v", got, tt.auc)
			}
			// The area under the curve's points, by trapezoids from (0,0), is the AUC too.
			area, x, y := 0.0, 0.0, 0.0
			for _, pt := range r.Curve() {
				area += (pt.FPR - x) * (pt.TPR + y) / 2
				x, y = pt.FPR, pt.TPR
			}
			if math.Abs(area-tt.auc) > 1e-12 {
				t.Errorf("area under Curve() = %v, want %v", area, tt.auc)
			}
			if last := r.Curve()[len(r.Curve())-1]; last.TPR != 1 || last.FPR != 1 {
				t.Errorf("loosest point %+v, want (1, 1)", last)
			}
		})
	}
}

func TestROCAt(t *testing.T) {
	r := newROC(4)
	for _, c := range []int{4, 3, 1} {
		r.add(true, c, 1)
	}
	for _, c := range []int{3, 0, 0, 0} {
		r.add(false, c, 1)
	}
	if pt := r.At(0); pt.Threshold != 4 || pt.TPR != 1.0/3 {
		t.Errorf("At(0) = %+v, want threshold 4, TPR 1/3", pt)
	}
	if pt := r.At(0.25); pt.Threshold != 1 || pt.TPR != 1 {
		t.Errorf("At(0.25) = %+v, want threshold 1, TPR 1", pt)
	}
}

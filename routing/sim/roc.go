package sim

// ROC is the receiver operating characteristic of a test whose score is a count in [0, n]:
// Pos[c] and Neg[c] are how many positives (candidates that were the downloader) and
// negatives scored c. Keeping whole histograms rather than scores lets hundreds of downloads,
// each with thousands of candidates, be pooled exactly, ties included.
type ROC struct {
	Pos, Neg []int64
}

func newROC(n int) ROC {
	return ROC{Pos: make([]int64, n+1), Neg: make([]int64, n+1)}
}

func (r *ROC) add(positive bool, c int, times int64) {
	if positive {
		r.Pos[c] += times
	} else {
		r.Neg[c] += times
	}
}

func (r *ROC) merge(o ROC) {
	for c := range o.Pos {
		r.Pos[c] += o.Pos[c]
		r.Neg[c] += o.Neg[c]
	}
}

// Positives and Negatives are the sizes of the two classes.
func (r ROC) Positives() int64 { return sum(r.Pos) }
func (r ROC) Negatives() int64 { return sum(r.Neg) }

// AUC is the area under the curve: the Mann–Whitney statistic, the chance that a random
// positive scores above a random negative, a tie counting one half. 0.5 is chance; 1 is a
// test that always ranks the downloader first.
func (r ROC) AUC() float64 {
	p, n := r.Positives(), r.Negatives()
	if p == 0 || n == 0 {
		return 0.5
	}
	var wins float64
	var below int64 // negatives scoring less than c
	for c := range r.Pos {
		wins += float64(r.Pos[c]) * (float64(below) + float64(r.Neg[c])/2)
		below += r.Neg[c]
	}
	return wins / (float64(p) * float64(n))
}

// ROCPoint is the test "the candidate is the downloader if its score is at least Threshold":
// the share of downloaders it names (TPR) and of other candidates it wrongly names (FPR).
type ROCPoint struct {
	Threshold int
	TPR, FPR  float64
}

// Curve lists the test's points from the strictest threshold to the loosest, one per score
// that some candidate reached; (0, 0) and (1, 1) are implied.
func (r ROC) Curve() []ROCPoint {
	p, n := r.Positives(), r.Negatives()
	var out []ROCPoint
	var tp, fp int64
	for c := len(r.Pos) - 1; c >= 0; c-- {
		if r.Pos[c] == 0 && r.Neg[c] == 0 {
			continue
		}
		tp += r.Pos[c]
		fp += r.Neg[c]
		out = append(out, ROCPoint{Threshold: c, TPR: ratio(tp, p), FPR: ratio(fp, n)})
	}
	return out
}

// At is the point of the loosest threshold whose false-positive rate is at most fpr.
func (r ROC) At(fpr float64) ROCPoint {
	best := ROCPoint{Threshold: len(r.Pos)}
	for _, pt := range r.Curve() {
		if pt.FPR > fpr {
			break
		}
		best = pt
	}
	return best
}

// Share is an estimated probability: Hits out of Of.
type Share struct {
	Hits, Of float64
}

func (s *Share) add(hit float64) {
	s.Hits += hit
	s.Of++
}

// P is the estimate, 0 when nothing was counted.
func (s Share) P() float64 {
	if s.Of == 0 {
		return 0
	}
	return s.Hits / s.Of
}

func sum(xs []int64) int64 {
	var t int64
	for _, x := range xs {
		t += x
	}
	return t
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// ranking follows the top score among candidates, and whether the downloader is among the
// candidates that share it.
type ranking struct {
	best, ties int
	hit        bool
}

func (r *ranking) add(score int, downloader bool) {
	switch {
	case score > r.best:
		r.best, r.ties, r.hit = score, 1, downloader
	case score == r.best:
		r.ties++
		r.hit = r.hit || downloader
	}
}

// credit is the chance that a guess among the top-scored candidates names the downloader.
func (r ranking) credit() float64 {
	if !r.hit {
		return 0
	}
	return 1 / float64(r.ties)
}

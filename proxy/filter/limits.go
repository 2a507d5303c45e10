package filter

// Limits that bound what a page can make the filter do (spec §17.7). They are tuning
// constants, not part of any format: a page that exceeds one loses the excess, or, for
// maxToken, is refused with ErrTooLarge.
const (
	// maxToken bounds one HTML token as x/net/html buffers it: a tag with all its
	// attributes, one run of text, or the whole body of a <style> element. It is the
	// largest piece of memory the HTML filter holds.
	maxToken = 1 << 20
	// maxDepth bounds the stack of open elements. Start tags beyond it are dropped (their
	// content is kept); browsers stop nesting at a similar depth.
	maxDepth = 256
	// maxAttrs is how many attributes of one tag are considered; the rest are dropped.
	maxAttrs = 64
	// maxAttrLen drops an attribute whose value is longer.
	maxAttrLen = 64 << 10
	// maxURLLen drops a URL (in HTML or CSS) that is longer, before any parsing.
	maxURLLen = 8 << 10
	// maxExternalLen drops a link out of the network that is longer rather than pass it
	// to the warning page.
	maxExternalLen = 2 << 10
	// maxSrcsetCandidates bounds the image candidates kept from one srcset.
	maxSrcsetCandidates = 16

	// maxCSSToken bounds one CSS token's value (an identifier, string or url); longer
	// tokens are marked and the statement holding them is dropped.
	maxCSSToken = 64 << 10
	// maxCSSStatement bounds the tokens of one CSS statement (a selector, an at-rule
	// prelude or a declaration) that the filter holds while it decides; a longer statement
	// is dropped.
	maxCSSStatement = 4096
	// maxCSSDepth bounds nested blocks ({…} and (…)/[…]/functions inside statements);
	// deeper content is dropped.
	maxCSSDepth = 32
	// maxCSSNesting bounds the nesting the filter follows at all, to stay in step with the
	// input while it drops what is deeper than maxCSSDepth. Past it, the rest of the
	// stylesheet is dropped.
	maxCSSNesting = 1024
)

package browsertest

import "fmt"

// MouseClick clicks, with the mouse as a user would, the first element of the tab's page
// that matches a CSS selector, and waits for the page the click leads to. Unlike Click, it
// runs no script in the page (the element is found and placed through DevTools' DOM domain),
// so a test can still require that no script was compiled at all.
func (t *Tab) MouseClick(selector string) error {
	var doc struct {
		Root struct {
			NodeID int `json:"nodeId"`
		} `json:"root"`
	}
	t.call("DOM.getDocument", map[string]any{"depth": 0}, &doc)
	var found struct {
		NodeID int `json:"nodeId"`
	}
	t.call("DOM.querySelector", map[string]any{"nodeId": doc.Root.NodeID, "selector": selector}, &found)
	if found.NodeID == 0 {
		return fmt.Errorf("click: nothing on the page matches %q", selector)
	}
	t.call("DOM.scrollIntoViewIfNeeded", map[string]any{"nodeId": found.NodeID}, nil)
	var box struct {
		Model struct {
			Content []float64 `json:"content"`
		} `json:"model"`
	}
	t.call("DOM.getBoxModel", map[string]any{"nodeId": found.NodeID}, &box)
	q := box.Model.Content
	if len(q) != 8 {
		return fmt.Errorf("click: %q has no box on the page", selector)
	}
	x, y := (q[0]+q[4])/2, (q[1]+q[5])/2
	for len(t.loaded) > 0 {
		<-t.loaded
	}
	for _, kind := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		t.call("Input.dispatchMouseEvent", map[string]any{"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}, nil)
	}
	if err := t.waitLoad(); err != nil {
		return fmt.Errorf("click %q: %w", selector, err)
	}
	return nil
}

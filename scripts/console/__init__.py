"""The browser console's build and the browser its tests drive (docs/console.md)."""

//! The view registry, after egui_demo_lib's pattern (a `Demo` trait and one list of demos):
//! every tab is a [`View`], and the `views!` invocation in `app/mod.rs` lists them once, one
//! line each:
//!
//! ```text
//! /// doc of the tab
//! FeatureMaps => features::FeaturesView, "Feature maps";
//! ```
//!
//! From that list the macro declares each view's module, the [`super::Tab`] enum (its variants
//! in tab order, `Tab::ALL`, the label that `Display` prints: the tab bar, the Ctrl+1…9
//! shortcuts and the GUI test that renders every view all read it) and `Views`, the struct with
//! one field per view, named after its module, and `Views::get_mut(tab)`, which draws the view
//! on show. Adding a view is one file (a `Default` type implementing [`View`]) and one line in
//! the list.

use eframe::egui;

use super::{Action, ViewCtx};

/// A tab of the explorer: draws its state and hands back [`Action`]s, applied after drawing.
pub(crate) trait View {
    /// Draw the view in `ui`.
    #[must_use]
    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut ViewCtx<'_>) -> Vec<Action>;
}

/// Declares the views: see the module documentation.
macro_rules! views {
    ($( $(#[$doc:meta])* $tab:ident => $module:ident :: $ty:ident, $label:literal; )+) => {
        $( mod $module; )+

        /// The views, in tab order (declared by the registry, `views!` in this file).
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
        )]
        pub enum Tab {
            $( $(#[$doc])* $tab, )+
        }

        impl Tab {
            /// Every tab, in order (Ctrl+1, Ctrl+2, …).
            pub const ALL: [Tab; [$(stringify!($tab)),+].len()] = [$(Tab::$tab),+];

            /// The tab's label.
            pub fn label(self) -> &'static str {
                match self {
                    $( Tab::$tab => $label, )+
                }
            }
        }

        impl Default for Tab {
            /// The first view.
            fn default() -> Self {
                Tab::ALL[0]
            }
        }

        impl std::fmt::Display for Tab {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.label())
            }
        }

        /// Every view's runtime state: one field per registered view, named after its module.
        #[derive(Default)]
        struct Views {
            $( $module: $module::$ty, )+
        }

        impl Views {
            /// The view of `tab`.
            fn get_mut(&mut self, tab: Tab) -> &mut dyn views::View {
                match tab {
                    $( Tab::$tab => &mut self.$module, )+
                }
            }
        }
    };
}

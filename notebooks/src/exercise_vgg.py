# %% [markdown]
# # Exercises: CIFAR-10 images, a small CNN, VGG11 and VGG16
#
# The first 8 training images with their labels; then the small CNN of the exercise, VGG11 (one fully
# connected layer) and VGG16 (three fully connected layers with dropout 0.5), each trained and tested,
# compared in one table.

# %% tags=["hide-input"]
labkit_setup()

# %% tags=["parameters"]
# Parameters (papermill: -p name value). Defaults are the lab's settings.
labkit_parameters()
models = ["simplecnn", "vgg11", "vgg16"]
experiment = "exercise_vgg"  # the runs go to run_dir/experiment/<model>

# %% [markdown] tags=["remove-cell"]
# **Run it:** in Colab, *Runtime > Run all*. Headless: `papermill notebooks/exercise_vgg.ipynb
# runs/exercise_out.ipynb -p data_root DIR`. This cell is not handed in.

# %%
params = labkit.notebook.parameters()  # the cell above read back (papermill's -p values too), every value checked

# %% [markdown]
# ## Data and the first 8 training images

# %%
data = labkit.load_cifar10(**params.of(labkit.load_cifar10))
raw = labkit.read_cifar_folder(data.info["source"], verbose=False)  # the files' order
labkit.show_images(raw["train_x"], raw["train_y"], raw["classes"], n=8);

# %% [markdown]
# ## The models

# %%
from labkit.experiments import model_variants, run_experiments

for m in params["models"]:
    print(f"{m}: {labkit.count_params(labkit.get_model(m)):,} parameters")
labkit.get_model("vgg16").classifier  # three fully connected layers, dropout 0.5

# %% [markdown]
# ## Training and testing each model

# %%
exp = run_experiments(model_variants(params["models"]), data=data, **params.without("models"))

# %% [markdown]
# ## Comparison

# %%
exp.table

# %%
exp.show_figures()
exp.show_runs()
